"""Postgres: the only home of SQL and of the driver; its modules take a connection and return domain types."""
