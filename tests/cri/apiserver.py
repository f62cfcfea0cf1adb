"""A stand-in API server for pod lookups: ``GET /api/v1/namespaces/NS/pods/NAME`` answers
with ``lookup(NS, NAME)`` (a pod object) or a 404 Status, as the real one does; and a
kubeconfig pointing at it for the kubernetes client."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

_POD = re.compile(r"^/api/v1/namespaces/([^/]+)/pods/([^/]+)$")


class APIServer:
    def __init__(self, lookup: Callable[[str, str], dict | None]):
        self.lookup = lookup
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                m = _POD.match(self.path.split("?")[0])
                pod = None
                if m:
                    try:
                        pod = outer.lookup(m.group(1), m.group(2))
                    except Exception as e:          # the runtime went away: a 500
                        self._send(500, {"kind": "Status", "status": "Failure",
                                         "message": str(e), "code": 500})
                        return
                if pod is not None:
                    self._send(200, pod)
                else:
                    self._send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                     "reason": "NotFound", "code": 404,
                                     "message": "pods not found"})

            def _send(self, code, obj):
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def kubeconfig(self, path, port: int | None = None) -> str:
        """A kubeconfig at ``path`` for this server (or for another ``port``)."""
        cfg = {"apiVersion": "v1", "kind": "Config", "current-context": "t",
               "clusters": [{"name": "t", "cluster": {
                   "server": f"http://127.0.0.1:{port or self.port}"}}],
               "users": [{"name": "t", "user": {"token": "stand-in"}}],
               "contexts": [{"name": "t", "context": {"cluster": "t", "user": "t"}}]}
        with open(path, "w") as f:
            json.dump(cfg, f)
        return str(path)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
