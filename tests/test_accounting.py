"""decoders.accounting: every skip reason a decoder or the pipeline uses is registered with its meaning,
and the ledger's arithmetic."""

import re
from pathlib import Path

from decoders.accounting import REASONS, Accounting, Ledger

REPO = Path(__file__).resolve().parent.parent
# the lines of the decoders and the ledger that name a reason: calls of ledger.skip, .undo, _account_cut,
# _retire and Accounting, (reason, count) pairs, and the `rest` fallbacks
ACCOUNTING_LINE = re.compile(
    r'(?:\.skip|\.undo|_account_cut|_retire|Accounting)\((.*)|\(("[a-z_]+", \w+)\)|wants_data else ("[a-z_]+")'
)
FILES = [  # the modules that hold accounting code (the NMF decoder's layers and the interface moved out of
    # nmf.py and detect.py)
    "decoders/nmf.py",
    "decoders/nmf_readers.py",
    "decoders/nmf_search.py",
    "decoders/nmf_events.py",
    "decoders/http.py",
    "decoders/interface.py",
    "wirecap/ledger.py",
    "wirecap/pipeline.py",
]
DIRECTIONS = {"orig", "resp"}


def test_every_reason_used_is_registered_and_documented() -> None:
    used = set()
    for name in FILES:
        for match in ACCOUNTING_LINE.finditer((REPO / name).read_text(encoding="utf-8")):
            used |= set(re.findall(r'"([a-z][a-z_]*)"', "".join(g for g in match.groups() if g))) - DIRECTIONS
    used.add(__import__("wirecap.ledger").ledger.UNACCOUNTED)
    assert used == set(REASONS), (used - set(REASONS), set(REASONS) - used)
    assert all(len(doc) > 20 for doc in REASONS.values())


def test_ledger_counts_skips_and_moves_undone_bytes() -> None:
    ledger = Ledger()
    ledger.decoded += 10
    ledger.skip("resync", 0)  # nothing skipped: no entry
    ledger.skip("resync", 3)
    ledger.skip("resync", 2)
    ledger.undo("undecodable", 4)  # four decoded bytes turned out undecodable
    assert ledger.accounting("foreign") == Accounting(6, {"resync": 5, "undecodable": 4}, "foreign")
