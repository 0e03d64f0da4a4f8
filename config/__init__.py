"""Settings, the app factory, the Tansu-aware transport and plain Kafka clients."""
