"""Agent exporter and plugin exporter (issue 4)."""
