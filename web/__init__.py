"""HTTP views and pages of every service, and how the API answers an error of the tree (``web.errors``)."""
