"""The console: a web page for what Grafana cannot show (incidents and what to do about them,
plugin logs, events and snapshots, capacity), served in front of the spec's webhook, plugin
exporters and Prometheus servers."""
