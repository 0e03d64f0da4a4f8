"""HTTP views of every service, their errors and the clients they call each other with."""
