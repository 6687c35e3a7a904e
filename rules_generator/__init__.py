"""Prometheus configs, rules, promtool tests, Alertmanager config and Grafana boards."""
