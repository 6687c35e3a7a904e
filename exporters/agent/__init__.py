"""The agent exporter: identity, heartbeat, host and process metrics, probes, self-registration."""
