"""Settings, the app factory, the in-order transport and plain Kafka clients."""
