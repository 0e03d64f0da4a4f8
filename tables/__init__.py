"""Table definitions, the MySQL mirror and its versioned schema; carts in Redis."""
