"""Ways out of the platform to the outside world: email and SMS senders."""
