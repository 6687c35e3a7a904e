"""`globalmon schema` validates the examples, documents every field, and docs/spec.md matches it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from globalmon.cli import main
from globalmon.spec.schema import json_schema, markdown

REPO = Path(__file__).resolve().parent.parent.parent
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))


def _schema_from_cli(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(["schema"]) == 0
    schema: dict[str, Any] = json.loads(capsys.readouterr().out)
    return schema


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_schema_output_validates_the_examples(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = _schema_from_cli(capsys)
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(yaml.safe_load(example.read_text()))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["regions"][0].update(agnets=[]), "Additional properties"),
        (lambda d: d["regions"][0]["agents"][0].update(type="sys"), "'sys' is not one of"),
        (lambda d: d["global"].update(scrape_interval="15 seconds"), "does not match"),
        (lambda d: d.pop("version"), "'version' is a required property"),
        (
            lambda d: d["global"]["external_labels"].update({"bad-label": "x"}),
            "does not match any of the regexes",
        ),
    ],
)
def test_schema_rejects_what_the_loader_rejects(change: Any, message: str) -> None:
    data = yaml.safe_load((REPO / "examples" / "regions.yaml").read_text())
    change(data)
    with pytest.raises(jsonschema.ValidationError, match=message):
        jsonschema.Draft202012Validator(json_schema()).validate(data)


def _properties(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    models = {"Spec": schema, **schema["$defs"]}
    return [(m, k, p) for m, s in models.items() for k, p in s.get("properties", {}).items()]


def test_every_field_is_documented_with_an_example() -> None:
    missing = [
        f"{model}.{key}"
        for model, key, prop in _properties(json_schema())
        if not prop.get("description") or not prop.get("examples")
    ]
    assert missing == []


def test_docs_spec_md_is_generated_from_the_schema(update_golden: bool) -> None:
    page = REPO / "docs" / "spec.md"
    if update_golden:
        page.write_text(markdown())
    assert page.read_text() == markdown(), "docs/spec.md is stale: run pytest --update-golden"


def test_committed_json_schema_is_current(update_golden: bool) -> None:
    path = REPO / "docs" / "region-spec.schema.json"
    text = json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
    if update_golden:
        path.write_text(text)
    assert path.read_text() == text, f"{path} is stale: run pytest --update-golden"
