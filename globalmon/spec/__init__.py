"""The region spec: one YAML file that drives every part of globalmon.

>>> spec = load_spec("examples/minimal.yaml")  # doctest: +SKIP
>>> [r.id for r in spec.regions]  # doctest: +SKIP
['local']
"""

from globalmon.spec.errors import Problem, SpecError
from globalmon.spec.load import load_spec, load_spec_text
from globalmon.spec.model import Spec

__all__ = ["Problem", "Spec", "SpecError", "load_spec", "load_spec_text"]
