"""The HTTP API (``wirecap/api.py``, ``wirecap/floor.py``) against ``captures/store.pcap`` and what its
peers logged: the main cash's orders at the end (``store.orders.json``) and the terminals' order after
every step (``store.truth.jsonl``); the event stream against ``wirecap replay`` of the same capture.
"""

import json
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from conftest import ENV, WIRECAP, events, ok
from pydantic import TypeAdapter
from starlette.testclient import TestClient
from test_orders import assert_main_cash_orders

from decoders.events import format_ts
from decoders.iiko import OrderTracker
from decoders.iiko_events import IikoEvent
from wirecap.api import Settings, build_app
from wirecap.floor import Floor
from wirecap.openapi import openapi_document
from wirecap.orders import analyse, capture_options_of, read_rules
from wirecap.orders_view import OrderDocument
from wirecap.serve import WebServer

ROOT = Path(__file__).resolve().parent.parent
STORE = ROOT / "captures" / "store.pcap"
TRUTH = [json.loads(line) for line in (ROOT / "captures" / "store.truth.jsonl").read_text().splitlines()]
Run = Callable[..., subprocess.CompletedProcess[bytes]]
API_ORDERS = TypeAdapter(list[OrderDocument])


@pytest.fixture(scope="module")
def floor() -> Floor:
    floor = Floor(keep_journal=True)
    analyse([str(STORE)], (floor, OrderTracker(read_rules(()))))
    floor.finished = True
    return floor


@pytest.fixture(scope="module")
def client(floor: Floor) -> Iterator[TestClient]:
    with TestClient(build_app(floor, Settings("capture", str(STORE)))) as client:
        yield client


def by_field_names(api_orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The API's documents read back through the model and written as ``wirecap orders --json`` does."""
    return [o.model_dump(mode="json") for o in API_ORDERS.validate_python(api_orders)]


def test_orders_at_the_end_equal_wirecap_orders_json(client: TestClient, wirecap: Run) -> None:
    got = client.get("/api/orders")
    assert got.status_code == 200 and got.headers["content-type"] == "application/json"
    assert "whenCreated" in got.json()[0] and "cost" in got.json()[0]["items"][0]  # iikoCloud's names
    assert by_field_names(got.json()) == json.loads(ok(wirecap("orders", "--json", str(STORE))))
    assert_main_cash_orders(by_field_names(got.json()))


def _truth_sum(order: dict[str, Any]) -> str | None:
    lines = [Decimal(i["amount"]) * Decimal(i["price"]) for i in order["items"] if not i.get("deleted")]
    return f"{sum(lines, Decimal(0)):.2f}" if lines else None  # an order without lines has no sum yet


def test_orders_at_every_step_equal_what_the_terminals_logged(client: TestClient, floor: Floor) -> None:
    """Just before each UserEvent a terminal posted, the floor is the orders after the step before it."""
    posted = [e for e in floor.journal or [] if isinstance(e, IikoEvent) and not e.derived]
    assert len(posted) == sum(1 for line in TRUTH if line["user_event"])
    state: dict[str, dict[str, Any]] = {}
    checked = 0
    step = 0  # UserEvents posted so far
    for line in TRUTH:
        if line["user_event"] and state:
            at = format_ts(posted[step].ts - 1000)
            got = {o["id"]: o for o in client.get("/api/orders", params={"at": at}).json()}
            want = {k: v for k, v in state.items() if v["status"] != "CLOSED"}
            assert got.keys() == want.keys(), line["step"]
            for order_id, order in want.items():
                api = got[order_id]
                assert (api["numberInt"], api["tableInt"], api["waiterName"], api["guestsCount"]) == (
                    order["number"], order["table"], order["waiter"], order["guests"]
                )  # fmt: skip
                assert (api["status"], api["sum"]) == (order["status"], _truth_sum(order))
                lines = [(i["id"], i["product"], i["amount"], i["price"]) for i in order["items"] if not i["deleted"]]
                assert [(i["positionId"], i["productName"], i["amount"], i["price"]) for i in api["items"]] == lines
            checked += 1
        step += 1 if line["user_event"] else 0
        state[line["order_id"]] = line["order_after"]
    assert checked == len(posted) - 1  # every step but the first, which nothing precedes


def test_filters_by_table_and_terminal(client: TestClient) -> None:
    every = client.get("/api/orders").json()
    for order in every:
        assert client.get("/api/orders", params={"table": order["tableNumber"]}).json() == [order]
    terminal = every[0]["terminalId"]
    mine = [o for o in every if o["terminalId"] == terminal]
    assert client.get("/api/orders", params={"terminal": terminal}).json() == mine
    assert client.get("/api/orders", params={"terminal": every[0]["terminalName"]}).json() == mine
    assert client.get("/api/orders", params={"table": "no such table"}).json() == []


def test_bad_at_is_a_400(client: TestClient) -> None:
    got = client.get("/api/orders", params={"at": "yesterday"})
    assert got.status_code == 400 and "not an ISO-8601 time" in got.json()["error"]


def test_order_with_its_history(client: TestClient, wirecap: Run) -> None:
    replayed = events(wirecap("replay", str(STORE)))
    for order in client.get("/api/orders").json():
        got = client.get(f"/api/orders/{order['id']}").json()
        assert {k: v for k, v in got.items() if k != "history"} == order
        built_it = [
            e
            for e in replayed
            if e["kind"].startswith("iiko.") and order["id"] in (e.get("order_id"), e.get("order", {}).get("id"))
        ]
        assert [e["seq"] for e in got["history"]] == [e["seq"] for e in built_it]
    assert client.get("/api/orders/no-such-order").status_code == 404


def test_stats(client: TestClient, wirecap: Run) -> None:
    stats = client.get("/api/stats").json()
    replayed = events(wirecap("replay", str(STORE)))
    assert stats["seq"] == len(replayed) and stats["mode"] == "capture" and stats["finished"]
    assert sum(stats["events"].values()) == len(replayed)
    assert stats["open_orders"] == len(client.get("/api/orders").json())


def test_read_only(client: TestClient) -> None:
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        assert client.request(method, "/api/orders").status_code == 405
    for path in ("/", "/api/orders", "/board/board.js"):
        headers = client.get(path).headers
        assert (
            headers["x-content-type-options"] == "nosniff"
            and "default-src 'self'" in headers["content-security-policy"]
        )


def test_openapi_served_equals_committed(client: TestClient, wirecap: Run) -> None:
    committed = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
    assert client.get("/api/openapi.json").json() == committed == openapi_document()
    assert json.loads(ok(wirecap("schema", "--openapi"))) == committed
    order = committed["components"]["schemas"]["OrderDocument"]["properties"]
    assert {"whenCreated", "sum", "number", "items", "tableNumber"} <= order.keys()


def test_token_by_header_and_by_login_cookie(floor: Floor) -> None:
    with TestClient(build_app(floor, Settings("capture", str(STORE), token="s3cret"))) as client:
        refused = client.get("/api/orders")
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        assert refused.headers["x-content-type-options"] == "nosniff"
        assert client.get("/api/orders", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/api/orders", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        page = client.get("/", headers={"Accept": "text/html"}, follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/login"
        assert client.get("/login").status_code == 200 and client.get("/board/board.css").status_code == 200
        assert client.get("/board/board.js").status_code == 401
        wrong = client.post("/login", data={"token": "nope"}, follow_redirects=False)
        assert wrong.headers["location"] == "/login?wrong=1" and "wirecap_token" not in client.cookies
        client.post("/login", data={"token": "s3cret"}, follow_redirects=False)
        assert client.get("/api/orders").status_code == 200  # the cookie
        assert client.get("/").status_code == 200


# A real uvicorn on loopback: the event stream.


@pytest.fixture(scope="module")
def server(floor: Floor) -> Iterator[str]:
    web = WebServer(build_app(floor, Settings("capture", str(STORE))), "127.0.0.1", 0, "--listen")
    web.start()
    yield web.url.rstrip("/")
    web.stop()


def read_stream(url: str, count: int, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """``count`` SSE events, then proof that no other one follows within half a second."""
    got: list[dict[str, Any]] = []
    with httpx.stream("GET", url, headers=headers, timeout=httpx.Timeout(5.0, read=0.5)) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        fields: dict[str, str] = {}
        try:
            for line in response.iter_lines():
                if line.startswith(":"):
                    continue
                if line:
                    name, _, value = line.partition(": ")
                    fields[name] = value
                elif fields:
                    got.append({"id": fields["id"], "event": fields["event"], "data": json.loads(fields["data"])})
                    fields = {}
        except httpx.ReadTimeout:
            pass
    assert len(got) == count
    return got


def test_events_resume_after_last_event_id(server: str, wirecap: Run) -> None:
    replayed = events(wirecap("replay", str(STORE)))
    after = replayed[len(replayed) // 2]["seq"]
    want = [e for e in replayed if e["seq"] > after]
    got = read_stream(f"{server}/api/events", len(want), {"Last-Event-ID": str(after)})
    assert [g["data"] for g in got] == want
    assert [(g["id"], g["event"]) for g in got] == [(str(e["seq"]), e["kind"]) for e in want]


def test_events_kind_filter(server: str, wirecap: Run) -> None:
    replayed = events(wirecap("replay", str(STORE)))
    want = [e for e in replayed if e["kind"].startswith("iiko.")]
    got = read_stream(f"{server}/api/events?kind=iiko.*", len(want))
    assert [g["data"] for g in got] == want
    locks = [e for e in replayed if e["kind"] in ("iiko.order_lock", "iiko.order_unlock")]
    got = read_stream(f"{server}/api/events?kind=iiko.order_lock,iiko.order_unlock&after=0", len(locks))
    assert [g["data"] for g in got] == locks


def test_a_client_behind_the_ring_is_told_to_start_again(wirecap: Run) -> None:
    small = Floor(ring_size=50)
    analyse([str(STORE)], (small, OrderTracker(read_rules(()))))
    web = WebServer(build_app(small, Settings("capture", str(STORE))), "127.0.0.1", 0, "--listen")
    web.start()
    try:
        got = read_stream(f"{web.url}api/events?after=3", 51)
    finally:
        web.stop()
    assert got[0]["event"] == "reset" and got[0]["data"] == {"lost_after": 3}
    replayed = events(wirecap("replay", str(STORE)))
    assert [g["data"] for g in got[1:]] == replayed[-50:]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_off_loopback_with_a_token(tmp_path: Path) -> None:
    """``wirecap serve`` as a user runs it, on every address, with a token: 401 without it, 200 with it."""
    port = free_port()
    command = [*WIRECAP, "serve", str(STORE), "--listen", f"0.0.0.0:{port}", "--token", "t0ken"]
    process = subprocess.Popen(command, cwd=tmp_path, env=ENV, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}/api/stats"
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.get(url, headers={"Authorization": "Bearer t0ken"})
                if answer.json()["finished"]:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.1)
        assert httpx.get(url).status_code == 401
        assert httpx.get(url, cookies={"wirecap_token": "t0ken"}).status_code == 200
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0 and b"Traceback" not in stderr
    assert f"wirecap: serving http://0.0.0.0:{port}/".encode() in stderr


def test_the_floor_over_remoting_equals_the_floor_over_wcf() -> None:
    """The store spoken over .NET Remoting (``captures/store_remoting.pcap``, pushes on 8507) serves the
    same open orders as over WCF, terminal names included: those come from the positional arguments
    of Remoting's ``Register`` call, which the floor reads through the rules as ``wirecap orders`` does."""

    def served(pcap: Path) -> list[dict[str, Any]]:
        rules = read_rules(())
        floor = Floor(rules=rules)
        analyse([str(pcap)], (floor, OrderTracker(rules)), capture_options_of((), any_port=True))
        with TestClient(build_app(floor, Settings("capture", str(pcap)))) as client:
            orders = client.get("/api/orders").json()
        return [{k: v for k, v in o.items() if k not in ("whenChanged", "whenCreated")} for o in orders]

    wcf = served(STORE)
    assert wcf and all(o.get("terminalName") for o in wcf)
    assert served(STORE.with_name("store_remoting.pcap")) == wcf
