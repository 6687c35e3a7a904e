"""globalmon: multi-region monitoring on Prometheus and Alertmanager, driven by one region spec."""

__version__ = "0.1.0"
