"""The agent registry: agents register and heartbeat; Prometheus discovers them (http_sd)."""
