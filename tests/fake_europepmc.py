"""A local stand-in for the Europe PMC REST search (http.server in a thread on 127.0.0.1).

It answers ``GET /search?query=...&format=json&resultType=idlist&pageSize=1`` with the service's JSON
shape (``{"version": ..., "hitCount": N, "request": {...}, "resultList": {"result": [...]}}``).
``hits`` maps a query to its count (others: a count derived from the query); ``failures`` maps a
query to a list of HTTP statuses to answer first (e.g. ``[429, 500]``), one per request.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def default_count(query: str) -> int:
    return zlib.crc32(query.encode("utf-8")) % 5000


@dataclass
class FakeEuropePMC:
    hits: dict[str, int] = field(default_factory=dict)
    failures: dict[str, list[int]] = field(default_factory=dict)
    delay: float = 0.0
    requests: list[str] = field(default_factory=list)  # the queries asked, in order (failures included)
    url: str = ""

    def count(self, query: str) -> int:
        return self.hits.get(query, default_count(query))


@contextmanager
def serve(fake: FakeEuropePMC) -> Iterator[FakeEuropePMC]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            parsed = urllib.parse.urlparse(self.path)
            args = urllib.parse.parse_qs(parsed.query)
            query = args.get("query", [""])[0]
            fake.requests.append(query)
            if fake.delay:
                time.sleep(fake.delay)
            if parsed.path != "/search" or args.get("format") != ["json"] or args.get("resultType") != ["idlist"]:
                self._send(400, {"error": "bad request"})
                return
            plan = fake.failures.get(query)
            if plan:
                status = plan.pop(0)
                self._send(status, {"error": f"status {status}"}, retry_after="0" if status == 429 else None)
                return
            n = fake.count(query)
            self._send(200, {"version": "6.9", "hitCount": n, "request": {"queryString": query, "resultType": "idlist",
                                                                          "pageSize": 1},
                             "resultList": {"result": [{"id": "1", "source": "MED", "pmid": "1"}] if n else []}})

        def _send(self, status: int, body: dict, retry_after: str | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if retry_after is not None:
                self.send_header("Retry-After", retry_after)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/search"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
