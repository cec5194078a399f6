"""The same iiko store over .NET Remoting as over WCF: the same iiko events and the same open orders.

captures/store_remoting.pcap is tests/interop/run_store.sh with STORE_TRANSPORT=remoting: the Mono main
cash and terminals of captures/store.pcap (same scripted evening, same data), but the terminals call the
main cash over a TcpChannel on 8506 and the main cash pushes locks and orders (one-way) to the terminals'
channel on 8507. The peers' own logs are the ground truth that both runs exchanged the same data; the
iiko layer must then say the same of both, with the same rules (iiko_rules.toml). The evening over
Remoting is also run live and compared with the committed WCF store.
"""

import json
import subprocess
from pathlib import Path
from typing import Any

from conftest import ENV, WIRECAP, ok
from interop.store import run_store

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
WCF, REMOTING = CAPTURES / "store.pcap", CAPTURES / "store_remoting.pcap"
WHERE = {"ts", "seq", "uid", "community_id", "orig", "resp", "orig_h", "orig_p", "resp_h", "resp_p", "source"}


def wirecap(*args: str) -> bytes:
    return ok(subprocess.run([*WIRECAP, *args], capture_output=True, env=ENV, timeout=120, check=False))


def iiko_events(pcap: Path) -> list[dict[str, Any]]:
    """The iiko.* events, without where and when they were seen (connections and times differ)."""
    lines = [json.loads(line) for line in wirecap("replay", "-q", "--any-port", str(pcap)).splitlines()]
    return [{k: v for k, v in e.items() if k not in WHERE} for e in lines if e["kind"].startswith("iiko.")]


def test_both_stores_exchanged_the_same_data() -> None:
    """The peers' own records: the same steps, orders after each step, and open orders at the end."""
    for suffix in ("truth.jsonl", "orders.json"):
        wcf = (CAPTURES / f"store.{suffix}").read_text(encoding="utf-8")
        assert (CAPTURES / f"store_remoting.{suffix}").read_text(encoding="utf-8") == wcf


def test_remoting_store_is_decoded_whole() -> None:
    lines = [json.loads(line) for line in wirecap("replay", "-q", "--any-port", str(REMOTING)).splitlines()]
    closes = [e for e in lines if e["kind"] == "conn.close"]
    assert sorted(c["service"] for c in closes) == ["http", "http", "remoting", "remoting"]
    for close in closes:
        for stats in (close["orig_stats"], close["resp_stats"]):
            assert stats["decoded"] == stats["bytes"] and not stats["skipped"], close
    messages = [e for e in lines if e["kind"] == "remoting.message"]
    pushes = {e.get("method") for e in messages if e["resp_p"] == 8507}
    assert pushes == {"OrderLocked", "OrderUnlocked", "OrderChanged"}
    assert all(e["operation"] == "one_way" for e in messages if e["resp_p"] == 8507)
    assert not [e for e in lines if e["kind"] == "anomaly"]


def test_same_iiko_events_over_wcf_and_remoting() -> None:
    wcf, remoting = iiko_events(WCF), iiko_events(REMOTING)
    assert len(wcf) > 80
    assert remoting == wcf


def test_same_open_orders_over_wcf_and_remoting() -> None:
    def orders(pcap: Path) -> list[dict[str, Any]]:
        found = json.loads(wirecap("orders", "--json", "--any-port", str(pcap)))
        return [{k: v for k, v in order.items() if k != "last_change"} for order in found]  # capture times

    wcf = orders(WCF)
    assert len(wcf) == 2 and all(o["terminal_name"] for o in wcf)
    assert orders(REMOTING) == wcf


def test_a_fresh_remoting_store_gives_the_wcf_stores_iiko_events(tmp_path: Path) -> None:
    """Live: Mono runs the evening over Remoting now; its logs and wirecap's iiko events match the WCF store's."""
    pcap, truth, orders = run_store(tmp_path, "remoting")
    assert truth.read_text(encoding="utf-8") == (CAPTURES / "store.truth.jsonl").read_text(encoding="utf-8")
    assert orders.read_text(encoding="utf-8") == (CAPTURES / "store.orders.json").read_text(encoding="utf-8")
    assert iiko_events(pcap) == iiko_events(WCF)
