"""Run a Mono WCF net.tcp scenario under tcpdump and return its capture and ground truth.

The work is done by ``run_wcf.sh`` (compile with mcs, start the service, capture ``lo``, run the
client, stop everything); this module is the Python face the tests use. Needs root, mono, mcs and
tcpdump. The truth format is documented in ``captures/README.md``.
"""

import json
import subprocess
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).with_name("run_wcf.sh")
SCENARIOS = ("buffered", "streamed", "callback", "concurrent")
TIMEOUT_S = 120  # a scenario takes ~4 s; this only guards against a hung Mono


def run_scenario(scenario: str, outdir: Path) -> tuple[Path, Path]:
    """Capture ``scenario`` into ``outdir``; returns (wcf_<scenario>.pcap, wcf_<scenario>.truth.jsonl)."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown WCF scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
    done = subprocess.run(
        [str(SCRIPT), scenario, str(outdir)], capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"run_wcf.sh {scenario} failed ({done.returncode}):\n{done.stderr}")
    return outdir / f"wcf_{scenario}.pcap", outdir / f"wcf_{scenario}.truth.jsonl"


def read_truth(path: Path) -> list[dict[str, Any]]:
    """The truth file's records, in file order (wire order within one connection)."""
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]
