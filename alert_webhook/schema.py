"""The webhook's schema, in SQLite's types (`globalmon.pg.schema` gives PostgreSQL's). Times are
Unix seconds from the injected clock."""

from alert_webhook.audit import CHECKPOINTS
from alert_webhook.audit import SCHEMA as AUDIT
from globalmon.conventions import ActionState

# replicas sharing one database (alert_webhook.replicas)
REPLICAS = """
CREATE TABLE IF NOT EXISTS replicas(
    id TEXT PRIMARY KEY,
    started_at REAL NOT NULL,
    seen_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS delivery_leases(
    delivery_id INTEGER PRIMARY KEY,  -- deliveries.id
    replica TEXT NOT NULL,
    until REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS action_owners(
    action_id INTEGER PRIMARY KEY,    -- actions.id
    replica TEXT NOT NULL
);
"""

SCHEMA = (
    AUDIT
    + CHECKPOINTS
    + """
CREATE TABLE IF NOT EXISTS receipts(
    id INTEGER PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    status TEXT NOT NULL,
    received_at REAL NOT NULL,
    UNIQUE(fingerprint, starts_at, status)
);
CREATE TABLE IF NOT EXISTS incidents(
    id INTEGER PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    alertname TEXT NOT NULL,
    severity TEXT NOT NULL,
    region TEXT NOT NULL,
    service TEXT NOT NULL,
    labels TEXT NOT NULL,
    annotations TEXT NOT NULL,
    state TEXT NOT NULL,            -- firing, acknowledged, resolved
    opened_at REAL NOT NULL,
    acknowledged_at REAL, acknowledged_by TEXT,
    resolved_at REAL, resolved_by TEXT,
    policy TEXT,
    base REAL NOT NULL,             -- escalation delays count from here
    next_entry INTEGER NOT NULL DEFAULT 0,
    next_due REAL,                  -- NULL: nothing left to escalate
    auto_recovered INTEGER NOT NULL DEFAULT 0,
    symptom_of INTEGER REFERENCES incidents(id),
    UNIQUE(fingerprint, starts_at)
);
CREATE INDEX IF NOT EXISTS incidents_due ON incidents(next_due) WHERE next_due IS NOT NULL;
CREATE INDEX IF NOT EXISTS incidents_state ON incidents(state, service, region);
-- open incidents by service: the root-cause lookup of every new incident, and the open counts
CREATE INDEX IF NOT EXISTS incidents_open ON incidents(service, region) WHERE state != 'resolved';
CREATE INDEX IF NOT EXISTS incidents_symptom ON incidents(symptom_of) WHERE symptom_of IS NOT NULL;
CREATE INDEX IF NOT EXISTS incidents_resolved ON incidents(resolved_at)
    WHERE resolved_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS incidents_acknowledged ON incidents(acknowledged_at)
    WHERE acknowledged_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS timeline(
    id INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL REFERENCES incidents(id),
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS timeline_incident ON timeline(incident_id);
CREATE TABLE IF NOT EXISTS deliveries(
    id INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL REFERENCES incidents(id),
    receiver TEXT NOT NULL,
    event TEXT NOT NULL,            -- trigger, acknowledge, resolve
    step TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL,            -- pending, sent, failed
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries(next_attempt) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS deliveries_incident ON deliveries(incident_id);
CREATE TABLE IF NOT EXISTS delivery_attempts(
    id INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL REFERENCES deliveries(id),
    at REAL NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS actions(
    id INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL REFERENCES incidents(id),
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    region TEXT NOT NULL,
    trigger TEXT NOT NULL,          -- the alert status that triggered it
    state TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    not_before REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS actions_state ON actions(state);
CREATE INDEX IF NOT EXISTS actions_finished ON actions(finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS actions_incident ON actions(incident_id, action);
CREATE INDEX IF NOT EXISTS actions_target ON actions(action, target, created_at);
"""
    + REPLICAS
)

ACTIVE_ACTION_STATES = (ActionState.RUNNING, ActionState.VERIFYING)
