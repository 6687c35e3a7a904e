"""Trend, forecast bands, anomaly scores, time-to-exhaustion from Prometheus history."""
