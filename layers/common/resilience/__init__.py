"""Resilience Telemetry's domain (these modules, pure), its store (store/: the SQL) and its jobs (jobs/)."""
