"""Property: however a stream's segments are cut, repeated and reordered on the wire, wirecap
reassembles exactly the bytes that were sent, with no holes; and a segment lost on top of that
costs exactly its bytes, reported as one hole at the right offset.

Each example is a real capture file (scapy packets, our writer) read back through ``collect_streams``,
once as the pipeline runs and once with its inlined in-order path off (``tcp_path``).
"""

from itertools import pairwise
from pathlib import Path
from tempfile import TemporaryDirectory

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torture import LINKTYPE_ETHERNET, Conn, frames, payload, timed, without, write_pcap

from wirecap.streams import collect_streams

Slices = list[tuple[int, int]]


@st.composite
def wire_order(draw: st.DrawFn, size: int, lossy: bool) -> tuple[Slices, Slices]:
    """(start, end) slices of a ``size``-byte stream as they hit the wire, and the holes left.

    Lossless: a cover of the stream plus retransmissions of arbitrary sub-ranges (same bytes, other
    boundaries). Lossy: the cover with one slice never captured, as an (offset, length) hole.
    All shuffled.
    """
    cuts = draw(st.lists(st.integers(1, size - 1), max_size=12, unique=True)) if size > 1 else []
    bounds = [0, *sorted(cuts), size]
    slices = list(pairwise(bounds))
    holes = []
    if lossy:
        a, b = slices.pop(draw(st.integers(0, len(slices) - 1)))
        holes.append((a, b - a))
    else:
        extra = draw(st.lists(st.tuples(st.integers(0, size - 1), st.integers(1, 400)), max_size=6))
        slices += [(a, min(size, a + n)) for a, n in extra]
    return draw(st.permutations(slices)), holes


ISN = st.one_of(st.integers(0, 2**32 - 1), st.integers(2**32 - 3000, 2**32 - 1))  # often across the wrap


@st.composite
def stream_case(
    draw: st.DrawFn, lossy: bool
) -> tuple[dict[str, int], dict[str, bytes], dict[str, Slices], dict[str, Slices]]:
    """ISNs, the bytes each side sends, the order their slices hit the wire, and the holes."""
    seed = draw(st.integers(0, 2**16))
    sizes = {"orig": draw(st.integers(1, 3000)), "resp": draw(st.integers(0, 3000))}
    isn = {d: draw(ISN) for d in sizes}
    data = {d: payload(n, seed + i) for i, (d, n) in enumerate(sizes.items())}
    wire = {d: draw(wire_order(n, lossy)) if n else ([], []) for d, n in sizes.items()}
    return isn, data, {d: w[0] for d, w in wire.items()}, {d: w[1] for d, w in wire.items()}


# tcp_path is set once per test run, not per example: the health check about function-scoped fixtures
# does not apply
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=st.one_of(stream_case(lossy=False), stream_case(lossy=True)))
def test_any_cut_repeat_order_and_loss_reassembles_the_sent_bytes(case, tcp_path: str) -> None:
    """Lossless cases give exactly the sent bytes; a lost slice gives the rest and that one hole."""
    isn, data, order, holes = case
    c = Conn("192.168.1.20", 50123, "192.168.1.10", 8080, isn=isn)
    segs = [c.data(d, a, data[d][a:b]) for d in ("orig", "resp") for a, b in order[d]]
    pkts = c.handshake() + segs + c.close({d: len(b) for d, b in data.items()})
    with TemporaryDirectory() as tmp:
        path = write_pcap(Path(tmp) / "p.pcap", frames(timed(pkts)), LINKTYPE_ETHERNET)
        [stream] = collect_streams([str(path)])
    assert (stream.orig, stream.resp) == (c.orig, c.resp)
    assert stream.data == {d: without(b, holes[d]) for d, b in data.items()}
    assert stream.gaps == holes
