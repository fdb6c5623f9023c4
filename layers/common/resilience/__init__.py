"""Resilience Telemetry's domain: signals, rates, rollups, rules, alerts and retention."""
