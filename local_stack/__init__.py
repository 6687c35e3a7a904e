"""The local stack: every part of globalmon on real Prometheus and Alertmanager, on loopback."""
