"""The store capture: a Mono main cash, two Mono terminals and an iikoRMS-like server link, under tcpdump.

``run_store(outdir)`` is the tests' face: it runs ``run_store.sh`` (private network namespace, LAN-sized
MTU), which runs this file as a script to do the work: compile the peers, serve the server link (here,
``http.server`` on 127.0.0.3:8080), start the main cash, capture, run the terminals' scripted evening,
stop everything and check the capture is whole. The formats are in ``captures/README.md``.
"""

import gzip
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "run_store.sh"
PEER = HERE / "build" / "peer.exe"
WCF_PORT = 8506
LINK = ("127.0.0.3", 8080)  # must match Evening.ServerLink in StoreEvening.cs
TERMINALS_PORT = 8507  # Remoting only: the terminals' channel, which the main cash pushes to (StoreRemoting.cs)
TRANSPORTS = ("wcf", "remoting")  # STORE_TRANSPORT: how the terminals and the main cash talk
TIMEOUT_S = 150  # a run takes ~6 s; this only guards against a hung Mono
TCPDUMP = ["tcpdump", "-i", "lo", "-s", "0", "-B", "16384", "-Z", "root", "-w"]
RESULT = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b"<result><success>true</success><errorString/><entitiesUpdate/><returnValue/></result>"
)


def outputs(transport: str) -> tuple[str, str, str]:
    """The capture, truth and orders file names: store.* over WCF, store_remoting.* over Remoting."""
    stem = "store" if transport == "wcf" else f"store_{transport}"
    return f"{stem}.pcap", f"{stem}.truth.jsonl", f"{stem}.orders.json"


def run_store(outdir: Path, transport: str = "wcf") -> tuple[Path, Path, Path]:
    """Capture the store into ``outdir``; returns (store.pcap, store.truth.jsonl, store.orders.json), named
    ``store_remoting.*`` when the store speaks .NET Remoting instead of WCF."""
    assert transport in TRANSPORTS
    env = {**os.environ, "PYTHON": sys.executable, "STORE_TRANSPORT": transport}
    done = subprocess.run(
        [str(SCRIPT), str(outdir)], capture_output=True, text=True, timeout=TIMEOUT_S, check=False, env=env
    )
    if done.returncode != 0:
        raise RuntimeError(f"run_store.sh failed ({done.returncode}):\n{done.stderr}")
    pcap, truth, orders = (outdir / name for name in outputs(transport))
    return pcap, truth, orders


class ServerLink(BaseHTTPRequestHandler):
    """Answers every iikoRMS call like the server does: a gzip ``<result>`` when the client accepts gzip."""

    protocol_version = "HTTP/1.1"  # keep-alive, as iikoFront's connection to the server

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        body = gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
        ET.fromstring(body)  # what came is XML, or the handler fails and the terminal's call with it
        reply = RESULT
        self.send_response(200)
        self.send_header("Content-Type", "text/xml;charset=UTF-8")
        if "gzip" in self.headers.get("Accept-Encoding", ""):
            reply = gzip.compress(reply, mtime=0)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)


def compile_peer(work: Path) -> None:
    """(Re)build peer.exe when a source is newer; built aside and renamed, so a running peer never sees half."""
    sources = sorted(HERE.glob("*.cs"))
    if PEER.exists() and all(s.stat().st_mtime <= PEER.stat().st_mtime for s in sources):
        return
    PEER.parent.mkdir(exist_ok=True)
    refs = [f"-r:{line}" for line in (HERE / "peer.refs").read_text().splitlines() if not line.startswith("#")]
    subprocess.run(["mcs", "-nologo", "-debug", f"-out:{work / 'peer.exe'}", *refs, *map(str, sources)], check=True)
    os.replace(work / "peer.exe.mdb", PEER.with_suffix(".exe.mdb"))
    os.replace(work / "peer.exe", PEER)


def wait_for_line(stream: object, text: str) -> None:
    """Read ``stream`` (a child's pipe) until a line containing ``text``; EOF first is a failure."""
    for line in iter(stream.readline, ""):  # type: ignore[attr-defined]
        if text in line:
            return
    raise RuntimeError(f"child exited before saying {text!r}")


def server_fins_missing(pcap: Path) -> str | None:
    """Whole means every connection a server accepted (SYN-ACK) was also closed by it (FIN)."""
    ports = " or ".join(f"tcp src port {p}" for p in (WCF_PORT, LINK[1]))

    def peers(flag: str) -> set[str]:
        out = subprocess.run(
            ["tcpdump", "-nr", str(pcap), f"({ports}) and tcp[tcpflags] & {flag} != 0"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return {line.split()[4] for line in out.splitlines()}

    accepted, closed = peers("tcp-syn"), peers("tcp-fin")
    if not accepted or accepted != closed:
        return f"capture incomplete: {len(accepted)} connections, {len(closed & accepted)} closed by the server"
    return None


def capture(outdir: Path) -> None:
    """Run the evening under tcpdump (inside run_store.sh's namespace) and move the results to ``outdir``."""
    outdir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp())
    children: list[subprocess.Popen[str]] = []
    link = ThreadingHTTPServer(LINK, ServerLink)
    link.daemon_threads = True
    threading.Thread(target=link.serve_forever, daemon=True).start()
    try:
        compile_peer(work)
        mono = ["mono", "--debug", str(PEER)]
        cash = subprocess.Popen([*mono, "server", "store", str(WCF_PORT), str(work)], stdout=subprocess.PIPE, text=True)
        children.append(cash)
        wait_for_line(cash.stdout, "listening")
        pcap = work / "capture.pcap"
        ports = f"tcp port {WCF_PORT} or tcp port {LINK[1]} or tcp port {TERMINALS_PORT}"
        dump = subprocess.Popen([*TCPDUMP, str(pcap), ports], stderr=subprocess.PIPE, text=True)
        children.append(dump)
        wait_for_line(dump.stderr, "listening on")
        subprocess.run([*mono, "client", "store", str(WCF_PORT), str(work)], check=True, timeout=60)
        time.sleep(0.2)
        (work / "stop").touch()  # the main cash closes its host and writes orders.json
        if cash.wait(timeout=20) != 0:
            raise RuntimeError(f"main cash exited with {cash.returncode}")
        time.sleep(1.2)  # > tcpdump's 1 s ring-block timeout: SIGINT drops packets not yet handed to it
        dump.send_signal(2)
        _, stats = dump.communicate(timeout=10)
        if "\n0 packets dropped by kernel" not in "\n" + stats:
            raise RuntimeError(f"tcpdump lost packets:\n{stats}")
        problem = server_fins_missing(pcap)
        if problem:
            raise RuntimeError(problem)
        names = outputs(os.environ.get("STORE_TRANSPORT", "wcf"))
        for source, name in zip((pcap, work / "truth.jsonl", work / "orders.json"), names, strict=True):
            shutil.move(source, outdir / name)
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
        link.shutdown()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    capture(Path(sys.argv[1]))
