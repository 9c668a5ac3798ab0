"""Refresh the vendored CRD schemas: ``python deploy/kubernetes/schemas/vendor.py CRD.yaml...``.

From each CustomResourceDefinition, only the ``openAPIV3Schema`` of the version the API server stores is kept, with
its ``description`` texts removed (they are most of the size and none of the validation), written as
``<group>_<version>_<Kind>.json`` next to this script. Record where each file came from in README.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent


def strip_descriptions(node: Any) -> Any:
    """Drop every schema's ``description`` (a string); a property *named* description is a schema and stays."""
    if isinstance(node, dict):
        return {k: strip_descriptions(v) for k, v in node.items() if not (k == "description" and isinstance(v, str))}
    if isinstance(node, list):
        return [strip_descriptions(v) for v in node]
    return node


def vendor(crd_path: Path) -> Path:
    crd = yaml.safe_load(crd_path.read_text())
    assert crd["kind"] == "CustomResourceDefinition", crd_path
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
    (version,) = [v for v in crd["spec"]["versions"] if v.get("storage")]
    out = HERE / f"{group}_{version['name']}_{kind}.json"
    schema = strip_descriptions(version["schema"]["openAPIV3Schema"])
    out.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
    return out


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(vendor(Path(arg)))
