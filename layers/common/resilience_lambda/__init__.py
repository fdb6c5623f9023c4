"""The Lambda edge of Resilience Telemetry: Powertools wiring, HTTP routes and AWS adapters."""
