"""HTTP peers for the live-capture tests, run inside a network namespace the test created.

    python live_peers.py calls N [HOLD]   serve on 127.0.0.1:8080, make N POSTs over one keep-alive
                                          connection, then keep it open (idle) HOLD seconds and close it

Prints "done" when the last reply has arrived (before the hold).
"""

import http.client
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ADDRESS = ("127.0.0.1", 8080)
BODY = b'<?xml version="1.0"?><args><entity>order</entity></args>'


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def calls(n: int, hold: float) -> None:
    server = ThreadingHTTPServer(ADDRESS, Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = http.client.HTTPConnection(*ADDRESS)
    for i in range(n):
        client.request("POST", f"/resto/services/call{i}", BODY, {"Content-Type": "text/xml"})
        assert client.getresponse().read() == BODY
    print("done", flush=True)
    time.sleep(hold)
    client.close()
    server.shutdown()


if __name__ == "__main__":
    calls(int(sys.argv[2]), float(sys.argv[3]) if len(sys.argv) > 3 else 0.0)
