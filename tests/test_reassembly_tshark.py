"""wirecap's TCP reassembly against Wireshark's Follow TCP Stream, on the torture captures.

Each recipe is first checked against tshark (so a wrong recipe cannot pass), then wirecap against
tshark: every byte of every direction, and every hole Wireshark marks, must be the same.
"""

from collections import Counter, defaultdict
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import events
from torture import (
    DIVERGENCES,
    LINKS,
    SCENARIOS,
    Conn,
    Divergence,
    Scenario,
    View,
    basic,
    expected_views,
    frames,
    tshark,
    tshark_follow,
    write_pcap,
)

from decoders.events import format_ts
from wirecap.streams import collect_streams

Followed = Callable[[Scenario], tuple[Path, list[View]]]


@pytest.fixture(scope="module")
def wireshark(tmp_path_factory: pytest.TempPathFactory) -> Followed:
    """A scenario's capture file and tshark's Follow output of it, made once for all tests here."""
    done: dict[str, tuple[Path, list[View]]] = {}

    def get(sc: Scenario) -> tuple[Path, list[View]]:
        if sc.name not in done:
            path = sc.write(tmp_path_factory.mktemp(sc.name) / "c.pcap")
            done[sc.name] = path, tshark_follow(path, len(sc.expected))
        return done[sc.name]

    return get


@pytest.mark.parametrize("sc", SCENARIOS, ids=lambda s: s.name)
def test_same_bytes_and_holes_as_wireshark(sc: Scenario, wireshark: Followed, reassemble, tcp_path: str) -> None:
    path, followed = wireshark(sc)
    truth = sorted(followed)
    assert truth == expected_views(sc.expected), "recipe and Wireshark disagree: fix the recipe"
    assert reassemble(path) == truth


@pytest.mark.parametrize("sc", SCENARIOS, ids=lambda s: s.name)
def test_orig_is_the_connecting_side(sc: Scenario, wireshark: Followed, tcp_path: str) -> None:
    """orig is the SYN's sender (or, mid-stream, the client talking to the well-known port)."""
    streams = collect_streams([str(wireshark(sc)[0])])
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
def test_where_wireshark_differs(div: Divergence, tmp_path: Path, reassemble, tcp_path: str) -> None:
    path = div.scenario.write(tmp_path / "d.pcap")
    assert sorted(tshark_follow(path, len(div.wireshark))) == expected_views(div.wireshark)
    assert reassemble(path) == expected_views(div.scenario.expected)


FIELDS = ("frame.time_epoch", "tcp.stream", "ip.src", "ipv6.src", "tcp.srcport", "tcp.flags.fin", "tcp.flags.reset")


def _dissected(path: Path) -> list[dict]:
    """Per TCP stream (in tshark's order), from its dissection: packets per sender, FIN senders, RST, times."""
    out = tshark("-r", str(path), "-T", "fields", "-E", "separator=,", *(x for f in FIELDS for x in ("-e", f)))
    conns: dict[int, dict] = {}
    for line in out.splitlines():
        epoch, stream, ip4, ip6, port, fin, rst = line.split(",")
        if not stream:  # an IPv4 fragment before the last: the reassembled packet is counted once
            continue
        src = f"{ip4}:{port}" if ip4 else f"[{ip6}]:{port}"
        c = conns.setdefault(int(stream), {"packets": Counter(), "fin": set(), "rst": False, "times": []})
        c["packets"][src] += 1
        if fin == "1":
            c["fin"].add(src)
        c["rst"] |= rst == "1"
        c["times"].append(Decimal(epoch))
    return [conns[i] for i in sorted(conns)]


@pytest.mark.parametrize("sc", SCENARIOS, ids=lambda s: s.name)
def test_connection_events_agree_with_wireshark(sc: Scenario, wireshark: Followed, wirecap) -> None:
    """conn.close (reason, duration, per-direction bytes/packets/holes) and tcp.gap against tshark."""
    path, followed = wireshark(sc)
    lines = events(wirecap("replay", "-q", "--any-port", str(path)))
    opened = [e["uid"] for e in lines if e["kind"] == "conn.open"]  # first-packet order, like tshark's
    closes = {e["uid"]: e for e in lines if e["kind"] == "conn.close"}
    holes = defaultdict(list)
    for e in lines:
        if e["kind"] == "tcp.gap":
            holes[e["uid"], e["dir"]].append((e["offset"], e["length"]))
    dissected = _dissected(path)
    assert len(opened) == len(closes) == len(dissected) == len(followed)
    for uid, seen, follow in zip(opened, dissected, followed, strict=True):
        close = closes[uid]
        by_sender = {ep: (data, gaps) for ep, data, gaps in follow}
        for d in ("orig", "resp"):
            data, gaps = by_sender[close[d]]
            stats = {"bytes": len(data), "packets": seen["packets"][close[d]], "gaps": len(gaps)}
            counted = {k: close[f"{d}_stats"][k] for k in ("bytes", "packets", "gaps", "gap_bytes")}  # Wireshark's
            assert counted == {**stats, "gap_bytes": sum(n for _, n in gaps)}
            assert holes[uid, d] == list(gaps)
        ends = {close["orig"], close["resp"]}
        assert close["reason"] == ("rst" if seen["rst"] else "fin" if seen["fin"] == ends else "end-of-input")
        assert close["duration"] == pytest.approx(float(max(seen["times"]) - min(seen["times"])), abs=1e-6)
        if close["reason"] != "end-of-input":  # stamped by the packet that ended it
            assert close["ts"] == format_ts(int(max(seen["times"]) * 10**9))


HOLES_BEFORE_FIN = [sc for sc in SCENARIOS if sc.name == "dropped"]
HOLES_BEFORE_FIN += [d.scenario for d in DIVERGENCES if d.scenario.name == "hole-before-fin"]


@pytest.mark.parametrize("sc", HOLES_BEFORE_FIN, ids=lambda s: s.name)
def test_fins_close_a_connection_despite_holes(sc: Scenario, tmp_path: Path, wirecap) -> None:
    """A teardown seen on both sides ends the connection there, whatever bytes were lost before it.

    Another connection talks 200 s later: the first must not wait for it (or the end of the input) to
    close, nor stay open to take in a later connection on its 4-tuple.
    """
    later = basic(Conn("10.9.0.1", 40000, "10.9.0.2", 8506))
    pkts = sc.packets + [(ts + 200 * 10**9, p) for ts, p in later.packets]
    path = write_pcap(tmp_path / "c.pcap", frames(pkts), LINKS["ethernet"][0])
    closes = {e["orig"]: e for e in events(wirecap("replay", "-q", str(path))) if e["kind"] == "conn.close"}
    first = closes[sc.expected[0].orig]
    assert (first["reason"], first["ts"]) == ("fin", format_ts(sc.packets[-1][0]))
