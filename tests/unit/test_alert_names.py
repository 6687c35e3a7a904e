"""Alert names live in one table (globalmon.alerts.AlertName, found in globalmon.conventions):
the catalogue and the table agree, and no product module spells a catalogue name as a string
literal of its own."""

from __future__ import annotations

import io
import tokenize
from pathlib import Path

from globalmon.conventions import ALERTS, alert_names

REPO = Path(__file__).resolve().parents[2]
PARTS = ("globalmon", "exporters", "rules_generator", "forecaster_sidecar", "alert_webhook",
         "console", "local_stack")  # fmt: skip


def test_the_table_is_the_catalogue() -> None:
    assert sorted(alert_names()) == sorted(a.name for a in ALERTS)
    assert len(set(alert_names())) == len(alert_names())


def test_no_module_spells_an_alert_name() -> None:
    names = set(alert_names())
    found = []
    for part in PARTS:
        for path in sorted((REPO / part).rglob("*.py")):
            if path == REPO / "globalmon" / "alerts.py":  # the table itself
                continue
            for tok in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
                text = tok.string
                if tok.type == tokenize.STRING and text[:1] in "\"'" and text[1:-1] in names:
                    found.append(f"{path.relative_to(REPO)}:{tok.start[0]}: {text}")
    assert not found, "use globalmon.conventions.AlertName:\n" + "\n".join(found)
