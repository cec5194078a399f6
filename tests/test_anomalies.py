"""The anomaly registry and the code agree: no name is emitted unregistered, none registered unused."""

import ast
import re
from pathlib import Path

from decoders.anomalies import ANOMALIES

REPO = Path(__file__).resolve().parent.parent
SOURCES = sorted((REPO / "decoders").glob("*.py")) + sorted((REPO / "wirecap").glob("*.py"))
PREFIXES = {name.split("_", 1)[0] for name in ANOMALIES}
NAME = re.compile(rf"^(?:{'|'.join(sorted(PREFIXES))})_[a-z0-9_]+$")
NOT_ANOMALIES = {"soap_version"}  # event fields that happen to share a prefix


def literals() -> dict[str, list[str]]:
    """Every string literal shaped like an anomaly name, with where it stands (registry excluded)."""
    found: dict[str, list[str]] = {}
    for path in SOURCES:
        if path.name == "anomalies.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and NAME.match(node.value):
                if node.value in NOT_ANOMALIES:
                    continue
                found.setdefault(node.value, []).append(f"{path.name}:{node.lineno}")
    return found


def test_every_name_in_the_code_is_registered() -> None:
    unregistered = {name: where for name, where in literals().items() if name not in ANOMALIES}
    assert not unregistered


def test_every_registered_name_is_used_and_documented() -> None:
    used = literals()
    assert sorted(set(ANOMALIES) - set(used)) == []
    for name, meaning in ANOMALIES.items():
        assert NAME.match(name) and meaning.endswith(".") and len(meaning) > 20, name
