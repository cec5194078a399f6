"""Real WCF peers (Mono) that produce the committed ``captures/wcf_*`` files; see ``wcf.py``."""

from .wcf import SCENARIOS, read_truth, run_scenario

__all__ = ["SCENARIOS", "read_truth", "run_scenario"]
