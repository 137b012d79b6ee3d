"""What the witness publishes, read-only, over HTTP:

- ``GET /v1/cosigned-head``: the latest head it cosigned, with the log's
  signature and its cosignature (404 before the first);
- ``GET /v1/split-views``: every split view or rollback it refused, with the
  evidence and its signed alarm;
- ``GET /v1/public-key``: its Ed25519 public key (PEM) and key id, for
  operators; the log and verifiers pin the key rather than trusting this.

Nothing can be written through it."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from core.dsse import keyid_of, public_key_pem
from stagegate_witness.config import Config
from stagegate_witness.store import Store


def make_server(*, host: str, port: int, config: Config, store: Store) -> ThreadingHTTPServer:
    lock = threading.Lock()  # one store connection, shared with the poll loop
    public = config.signing_key.public_key()

    class Handler(BaseHTTPRequestHandler):
        server_version = "stagegate-witness"

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body, sort_keys=True).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/v1/cosigned-head":
                with lock:
                    head = store.last_cosigned()
                if head is None:
                    self._send(404, {"detail": "nothing cosigned yet", "code": "not_cosigned"})
                else:
                    self._send(200, head)
            elif path == "/v1/split-views":
                with lock:
                    views = store.split_views()
                self._send(200, {"count": len(views), "results": views})
            elif path == "/v1/public-key":
                self._send(200, {"key_id": keyid_of(public), "public_key": public_key_pem(public)})
            else:
                self._send(404, {"detail": "not found", "code": "not_found"})

        def do_POST(self) -> None:
            self._send(405, {"detail": "the witness is read-only over HTTP", "code": "method_not_allowed"})

        do_PUT = do_DELETE = do_PATCH = do_POST

        def log_message(self, format: str, *args: Any) -> None:  # quiet access log
            return

    httpd = ThreadingHTTPServer((host, port), Handler)
    httpd.store_lock = lock  # type: ignore[attr-defined]
    return httpd
