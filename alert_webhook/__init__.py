"""Alertmanager receiver: incidents, escalation, guarded auto-recovery, audit trail."""
