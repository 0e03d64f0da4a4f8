"""Running the platform on one machine: broker, bootstrap, simulators, launcher."""
