"""wirecap's TCP reassembly against Wireshark's Follow TCP Stream, on the torture captures.

Each recipe is first checked against tshark (so a wrong recipe cannot pass), then wirecap against
tshark: every byte of every direction, and every hole Wireshark marks, must be the same.
"""

from pathlib import Path

import pytest
from torture import DIVERGENCES, SCENARIOS, Divergence, Scenario, expected_views, tshark_follow

from wirecap.pipeline import collect_streams


@pytest.mark.parametrize("sc", SCENARIOS, ids=lambda s: s.name)
def test_same_bytes_and_holes_as_wireshark(sc: Scenario, tmp_path: Path, reassemble) -> None:
    path = sc.write(tmp_path / f"{sc.name}.pcap")
    truth = tshark_follow(path, len(sc.expected))
    assert truth == expected_views(sc.expected), "recipe and Wireshark disagree: fix the recipe"
    assert reassemble(path) == truth


@pytest.mark.parametrize("sc", SCENARIOS, ids=lambda s: s.name)
def test_orig_is_the_connecting_side(sc: Scenario, tmp_path: Path) -> None:
    """orig is the SYN's sender (or, mid-stream, the client talking to the well-known port)."""
    streams = collect_streams([str(sc.write(tmp_path / "c.pcap"))])
    assert sorted((s.orig, s.resp) for s in streams) == sorted((e.orig, e.resp) for e in sc.expected)


# Where our rule and Wireshark part ways we assert our rule, and pin Wireshark's choice next to it so
# that the difference stays documented (and a Wireshark change shows up here):
# - overlapping copies with different bytes: wirecap keeps the first copy seen, always. Wireshark
#   agrees while the first copy was delivered in order (SCENARIOS' overlap-diff-delivered), but a
#   later in-order segment overrides bytes it had buffered out of order. First copy wins is what the
#   ``tcp_overlap_mismatch`` anomaly promises, and it does not depend on what else is buffered.
# - data left behind a hole when the input ends: wirecap delivers it after reporting the hole;
#   Wireshark drops it. Lost bytes must be counted, and data seen is not thrown away.
# - a hole right before the FIN: same bytes, but Wireshark marks no hole; the FIN's sequence number
#   proves the loss, so wirecap reports it.
@pytest.mark.parametrize("div", DIVERGENCES, ids=lambda d: d.scenario.name)
def test_where_wireshark_differs(div: Divergence, tmp_path: Path, reassemble) -> None:
    path = div.scenario.write(tmp_path / "d.pcap")
    assert tshark_follow(path, len(div.wireshark)) == expected_views(div.wireshark)
    assert reassemble(path) == expected_views(div.scenario.expected)
