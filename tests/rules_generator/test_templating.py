"""The annotation-template subset matches Go's formatting (promtool checks the real thing)."""

from __future__ import annotations

import pytest

from rules_generator.templating import humanize, humanize_duration, humanize_percentage, render


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.95, "95%"), (0.1, "10%"), (0.07, "7%"), (1.0, "100%"), (0.0125, "1.25%")],
)
def test_humanize_percentage(value: float, text: str) -> None:
    assert humanize_percentage(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.95, "1.95s"),
        (0.4875, "487.5ms"),
        (180, "3m 0s"),
        (5400, "1h 30m 0s"),
        (302400, "3d 12h 0m 0s"),
        (0, "0s"),
    ],
)
def test_humanize_duration(value: float, text: str) -> None:
    assert humanize_duration(value) == text


@pytest.mark.parametrize(
    ("value", "text"), [(25, "25"), (33333.33, "33.33k"), (1.5e9, "1.5G"), (0.002, "2m")]
)
def test_humanize(value: float, text: str) -> None:
    assert humanize(value) == text


def test_render_fills_labels_and_values() -> None:
    out = render("{{ $labels.agent }} at {{ $value | humanizePercentage }}", {"agent": "a1"}, 0.5)
    assert out == "a1 at 50%"


def test_bare_value_is_refused() -> None:
    with pytest.raises(ValueError, match="pipe \\$value through one of humanize"):
        render("{{ $value }}", {}, 1.0)
