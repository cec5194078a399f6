"""fuzz/: every target fuzzed briefly under atheris (the CI share of the campaign), and every input a
fuzzer ever crashed or hung on (tests/fuzz_findings/<target>-<what>) replayed through its target.

The long campaign is ``python fuzz/run.py --seconds N``; its figures are in the README.
"""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "fuzz"))

import fuzz_targets as targets  # noqa: E402

_spec = importlib.util.spec_from_file_location("fuzz_run", ROOT / "fuzz" / "run.py")
assert _spec is not None and _spec.loader is not None
fuzz_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fuzz_run)

FINDINGS = sorted((ROOT / "tests" / "fuzz_findings").iterdir())
SECONDS = 15  # per target: 10 targets, about three minutes in all


def test_every_decoder_has_a_target_with_seeds() -> None:
    decoders = {"nmf", "nbfx", "soap", "nns", "http", "remoting", "reassembly", "pcap"}
    assert set(targets.TARGETS) == decoders | {"iiko", "core"}  # and the two differential targets
    for name in targets.TARGETS:
        assert targets.seeds(name), name


@pytest.mark.parametrize("target", list(targets.TARGETS))
def test_short_fuzz_run(target: str, tmp_path: Path) -> None:
    result = fuzz_run.run_target(target, SECONDS, None, nice=0, work=tmp_path)
    log = (tmp_path / "findings" / f"{target}.log").read_text()
    assert result["crashes"] == 0 and result["hangs"] == 0 and result["exit"] == 0, log[-4000:]
    assert result["inputs"] > 20, log[-4000:]  # it really ran (nmf and pcap do ~100 inputs/s on a busy machine)


@pytest.mark.parametrize("path", FINDINGS, ids=[p.name for p in FINDINGS])
def test_fuzz_finding_stays_fixed(path: Path) -> None:
    target = path.name.split("-", 1)[0]
    targets.TARGETS[target](path.read_bytes())


def test_a_crashing_target_is_reported(tmp_path: Path) -> None:
    """The runner counts a crash (its figures are what the README reports, so they must be able to fail)."""
    script = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]; import fuzz_targets as targets, run\n"
        "def boom(data):\n    if len(data) > 3: raise ValueError('boom')\n"
        "targets.TARGETS['soap'] = boom\nrun.child('soap', sys.argv[3:])\n"
    )
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "s").write_bytes(b"abcdef")
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            str(ROOT),
            str(ROOT / "fuzz"),
            "-runs=10",
            f"-artifact_prefix={tmp_path}/",
            str(seeds),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0 and "ValueError: boom" in proc.stdout + proc.stderr
    assert list(tmp_path.glob("crash-*"))
