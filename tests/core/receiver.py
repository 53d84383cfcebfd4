"""A webhook receiver on 127.0.0.1 for tests: records each request, answers as told."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.status = 200
        self.delay = 0.0
        self.location = ""  # with a 3xx status: where it points
        self.garbage = False  # answer bytes that are not HTTP
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                if receiver.delay:
                    time.sleep(receiver.delay)
                if receiver.garbage:
                    self.wfile.write(b"NOT HTTP AT ALL\r\n\r\n")
                    return
                self.send_response(receiver.status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.end_headers()
                self.wfile.write(b"ok")

            def do_GET(self) -> None:
                receiver.requests.append({"headers": dict(self.headers), "body": b"", "get": 1})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:  # keep test output quiet
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
