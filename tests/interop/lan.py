"""A store LAN in network namespaces: a terminal, a main cash and a server, each its own host.

``StoreLan(tag)`` creates three namespaces and two veth pairs, terminal↔main cash (10.77.N.0/24 with
N = 1) and terminal↔server (N = 2), MTU 1500 and no segmentation offload so packets are LAN-sized;
``evening()`` runs the store scenario's Mono peers across them: the main cash in its namespace, the
iikoRMS-like server link (``store.ServerLink``) in the server's, both terminals in the terminal's. What
is captured in the terminal's namespace is what a sniffer on the terminal's switch port would see.
Run as a script (``lan.py link HOST PORT``) this file is the server link. Needs root, mono and mcs.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from store import PEER, WCF_PORT, ServerLink, compile_peer, wait_for_line  # noqa: E402

ROLES = ("term", "cash", "srv")


class StoreLan:
    def __init__(self, tag: str) -> None:
        self.ns = {role: f"wc{tag}-{role}" for role in ROLES}
        self.cash_ip, self.srv_ip = "10.77.1.1", "10.77.2.1"
        self.veths = (f"wc{tag}c", f"wc{tag}s")  # the terminal's ends, towards the main cash and the server

    def __enter__(self) -> "StoreLan":
        self.close()  # what a killed earlier run left
        for ns in self.ns.values():
            _ip("netns", "add", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
            # Mono resolves the host of a net.tcp address, both ways: names in each namespace's hosts file
            # (ip netns exec mounts /etc/netns/NS/hosts over /etc/hosts).
            hosts = Path("/etc/netns") / ns / "hosts"
            hosts.parent.mkdir(parents=True, exist_ok=True)
            hosts.write_text(f"127.0.0.1 localhost\n{self.cash_ip} maincash\n{self.srv_ip} server\n")
        for veth, peer, n in ((self.veths[0], "cash", 1), (self.veths[1], "srv", 2)):
            other = f"{veth}p"
            _ip("link", "add", veth, "netns", self.ns["term"], "type", "veth", "peer", other, "netns", self.ns[peer])
            for ns, dev, host in ((self.ns["term"], veth, 2), (self.ns[peer], other, 1)):
                _ip("-n", ns, "addr", "add", f"10.77.{n}.{host}/24", "dev", dev)
                _ip("-n", ns, "link", "set", dev, "mtu", "1500", "gso_max_size", "1500", "gso_max_segs", "1", "up")
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for ns in self.ns.values():
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
            shutil.rmtree(Path("/etc/netns") / ns, ignore_errors=True)

    def cmd(self, role: str, argv: list[str]) -> list[str]:
        """``argv`` run in ``role``'s namespace."""
        return ["ip", "netns", "exec", self.ns[role], *argv]

    def evening(self, work: Path | None = None) -> Path:
        """The store's evening across the LAN (about 6 s); returns the directory with truth.jsonl."""
        work = work or Path(tempfile.mkdtemp(prefix="wirecap-lan-"))
        work.mkdir(parents=True, exist_ok=True)
        compile_peer(work)
        env = {
            **os.environ,
            "TZ": "Europe/Moscow",
            "STORE_MAIN_CASH": "maincash",
            "STORE_SERVER_LINK": f"http://{self.srv_ip}:8080",
        }
        mono = ["mono", "--debug", str(PEER)]
        link_argv = [sys.executable, str(Path(__file__)), "link", self.srv_ip, "8080"]
        children = []
        try:
            link = subprocess.Popen(self.cmd("srv", link_argv), stdout=subprocess.PIPE, text=True)
            children.append(link)
            wait_for_line(link.stdout, "listening")
            cash_argv = [*mono, "server", "store", str(WCF_PORT), str(work)]
            cash = subprocess.Popen(self.cmd("cash", cash_argv), stdout=subprocess.PIPE, text=True, env=env)
            children.append(cash)
            wait_for_line(cash.stdout, "listening")
            terminals = [*mono, "client", "store", str(WCF_PORT), str(work)]
            subprocess.run(self.cmd("term", terminals), check=True, timeout=90, env=env, stdout=subprocess.DEVNULL)
            time.sleep(0.2)
            (work / "stop").touch()  # the main cash closes its host
            if cash.wait(timeout=20) != 0:
                raise RuntimeError(f"main cash exited with {cash.returncode}")
        finally:
            for child in children:
                if child.poll() is None:
                    child.terminate()
                    child.wait(timeout=10)
        return work


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


if __name__ == "__main__" and sys.argv[1] == "link":
    server = ThreadingHTTPServer((sys.argv[2], int(sys.argv[3])), ServerLink)
    server.daemon_threads = True
    print("listening", flush=True)
    server.serve_forever()
