"""Prometheus configs, rules, promtool tests, Alertmanager config and Grafana boards (issue 3)."""
