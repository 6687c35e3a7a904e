"""Agent exporter, agent registry and plugin exporter."""
