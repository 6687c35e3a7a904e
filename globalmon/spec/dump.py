"""`dump_spec`: a spec model as YAML that `load_spec` reads back to the same model.

The one writer of specs, for the stacks that run a changed copy of the user's spec (the demo's
fast profile): they change the model, never the YAML text.
"""

from __future__ import annotations

import yaml

from globalmon.spec.model import Spec


def dump_spec(spec: Spec) -> str:
    data = spec.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    data["version"] = spec.version  # a default, but the file must say it
    text: str = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=10_000)
    return text
