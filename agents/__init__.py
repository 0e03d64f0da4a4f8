"""One Faust app per service: `faust -A agents.<service> worker`."""
