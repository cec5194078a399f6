"""Make ``captures/rms_session.pcap``: an iikoFront-like client talking to an iikoRMS-like server.

Real sockets on 127.0.0.3:8080 (http.server and http.client), captured by tcpdump. The bodies are
shaped after public iikoRMS descriptions (``POST /resto/services/<service>?methodName=<m>``, gzip XML
``<args>``, ``<result><success/><errorString/>…``, X-Resto-* headers, UserEvents in the journal's
``<type/><attribute><name/><value/>`` form); the services and method names are modelled, not recorded.
The ground truth (what the client sent and what it got back) goes to ``captures/rms_session.truth.jsonl``.

Run as root: ``.venv/bin/python tests/interop/rms/gen_rms.py [OUT_DIR]``.
"""

import gzip
import http.client
import json
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HOST, PORT = "127.0.0.3", 8080
TERMINAL = "6f1b2c3d-0000-4a5b-8c9d-0e1f2a3b4c5d"
ORDER = "a1b2c3d4-1111-2222-3333-444455556666"
PASSWORD_HASH = "5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8"


def user_event(event_id: int, type_: str, **attributes: str) -> str:
    pairs = "".join(f"<attribute><name>{k}</name><value>{v}</value></attribute>" for k, v in attributes.items())
    date = f"2026-11-29T12:00:{event_id:02d}"
    return f"<UserEvent><id>{event_id}</id><date>{date}</date><type>{type_}</type>{pairs}</UserEvent>"


ORDER_ATTRS = {"orderId": ORDER, "orderNum": "17", "tableNum": "5", "waiter": "Ivanova A."}
EVENTS_1 = [
    user_event(1, "orderOpened", **ORDER_ATTRS, numGuests="2", openTime="2026-11-29T12:00:01"),
    user_event(2, "addItemToOrder", **ORDER_ATTRS, dishes="Borscht", rowCount="2", sum="500"),
    user_event(3, "addItemToOrder", **ORDER_ATTRS, dishes="Kompot", rowCount="1", sum="90"),
]
EVENTS_2 = [
    user_event(
        4, "deletedNewItems", **ORDER_ATTRS, dishes="Kompot", rowCount="1", sum="90", comment="guest changed mind"
    ),
    user_event(5, "changedOrderGuestCount", **ORDER_ATTRS, numGuests="3"),
    user_event(6, "orderPrechequed", **ORDER_ATTRS, sum="500", orderSumAfterDiscount="450"),
]
ORDER_ENTITY = (
    f"<i><id>{ORDER}</id><type>Order</type><r><id>{ORDER}</id><number>17</number><status>BILL</status>"
    "<openTime>2026-11-29T12:00:01</openTime><tables><i><num>5</num><name>Table 5</name></i></tables>"
    "<waiter>Ivanova A.</waiter><guests>3</guests><syncRevision>42</syncRevision>"
    f"<lastChangedTerminalId>{TERMINAL}</lastChangedTerminalId>"
    "<items><i><id>pos-1</id><dish>Borscht</dish><amount>2</amount><fixedPrice>250</fixedPrice>"
    "<printed>true</printed><deleted>false</deleted></i></items></r></i>"
)


def args(body: str) -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?><args><client-type>FRONT</client-type>{body}</args>'.encode()


def result(success: bool, error: str = "", value: str = "", update: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><result><success>{str(success).lower()}</success>'
        f"<errorString>{error}</errorString><entitiesUpdate>{update}</entitiesUpdate>"
        f"<returnValue>{value}</returnValue></result>"
    ).encode()


class Resto(BaseHTTPRequestHandler):
    """Answers like iikoRMS: gzip XML results; a long poll that waits before returning an order."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/xml;charset=UTF-8")
        self.send_header("Content-Length", "1234")
        self.end_headers()

    def do_GET(self) -> None:
        body = b"iiko server is running"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        if self.headers.get("Transfer-Encoding") == "chunked":
            raw = self._read_chunked()
        else:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
        body = gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
        ET.fromstring(body)  # the server checks what it got is XML
        if "waitEntitiesUpdate" in self.path:
            time.sleep(1.0)
            reply = result(True, update=f"<items>{ORDER_ENTITY}</items>")
        elif "badMethod" in self.path:
            reply = result(False, error="Unknown method badMethod")
        else:
            reply = result(True, value="<i>ok</i>")
        data = gzip.compress(reply, mtime=0)
        self.send_response(200)
        self.send_header("Content-Type", "text/xml;charset=UTF-8")
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _read_chunked(self) -> bytes:
        out = b""
        while True:
            size = int(self.rfile.readline().strip(), 16)
            if size == 0:
                self.rfile.readline()
                return out
            out += self.rfile.read(size)
            self.rfile.readline()


def call(
    conn: http.client.HTTPConnection,
    truth: list[dict],
    method: str,
    uri: str,
    body: bytes | None,
    chunked: bool = False,
    close: bool = False,
) -> None:
    headers = {
        "X-Resto-LoginName": "ivanova",
        "X-Resto-PasswordHash": PASSWORD_HASH,
        "X-Resto-TerminalId": TERMINAL,
        "X-Resto-CorrelationId": f"corr-{len(truth) + 1}",
        "Content-Type": "text/xml;charset=UTF-8",
        "Accept-Encoding": "gzip",
    }
    if close:
        headers["Connection"] = "close"
    payload = None
    if body is not None:
        headers["Content-Encoding"] = "gzip"
        payload = gzip.compress(body, mtime=0)
    if chunked:
        pieces = [payload[i : i + 100] for i in range(0, len(payload), 100)]
        conn.request(method, uri, body=iter(pieces), headers=headers, encode_chunked=True)
    else:
        conn.request(method, uri, body=payload, headers=headers)
    response = conn.getresponse()
    raw = response.read()
    reply = gzip.decompress(raw) if response.getheader("Content-Encoding") == "gzip" else raw
    truth.append(
        {
            "method": method,
            "uri": uri,
            "status": response.status,
            "correlation_id": headers["X-Resto-CorrelationId"],
            "request_xml": body.decode() if body is not None else None,
            "request_wire_bytes": len(payload) if payload is not None else 0,
            "response_body": reply.decode(),
            "response_wire_bytes": len(raw),
            "chunked": chunked,
        }
    )


def main(out_dir: Path) -> None:
    pcap = out_dir / "rms_session.pcap"
    server = ThreadingHTTPServer((HOST, PORT), Resto)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    dump = subprocess.Popen(
        [
            "tcpdump",
            "-i",
            "lo",
            "-U",
            "--immediate-mode",
            "-s",
            "0",
            "-w",
            str(pcap),
            f"host {HOST} and tcp port {PORT}",
        ],
        stderr=subprocess.PIPE,
    )
    assert dump.stderr is not None
    dump.stderr.readline()  # "listening on lo ..." once the capture runs
    truth: list[dict] = []
    conn = http.client.HTTPConnection(HOST, PORT)
    call(conn, truth, "POST", "/resto/services/authorization?methodName=authenticate", args("<login>ivanova</login>"))
    call(
        conn,
        truth,
        "POST",
        "/resto/services/events?methodName=saveUserEvents",
        args("<events>" + "".join(EVENTS_1) + "</events>"),
    )
    call(
        conn,
        truth,
        "POST",
        "/resto/services/events?methodName=saveUserEvents",
        args("<events>" + "".join(EVENTS_2) + "</events>"),
        chunked=True,
    )
    call(conn, truth, "HEAD", "/resto/services/update", None)
    call(conn, truth, "GET", "/resto/index.html", None)
    call(
        conn,
        truth,
        "POST",
        "/resto/services/update?methodName=waitEntitiesUpdate",
        args("<entities-version>41</entities-version>"),
    )
    call(conn, truth, "POST", "/resto/services/misc?methodName=badMethod", args(""), close=True)
    conn.close()
    time.sleep(1.0)  # let the FIN handshake reach the capture
    dump.terminate()
    dump.wait()
    server.shutdown()
    with open(out_dir / "rms_session.truth.jsonl", "w") as f:
        for line in truth:
            f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[3] / "captures")
