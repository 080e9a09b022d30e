"""Webhook receiver for the end-to-end scenario: runs in the client container, appends every POST it gets to a
JSON-lines file with whether its HMAC-SHA256 signature matched the shared test secret.

    webhook_receiver.py --port 8080 --out /tmp/mbg-hooks.jsonl --secret TEST-SECRET
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.server
import json
import threading

HEADER = "X-MBG-Signature"
_lock = threading.Lock()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--out", required=True)
    parser.add_argument("--secret", default="")
    args = parser.parse_args()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            want = "sha256=" + hmac.new(args.secret.encode(), body, hashlib.sha256).hexdigest()
            record = {
                "path": self.path,
                "signature_ok": hmac.compare_digest(self.headers.get(HEADER, ""), want),
                "body": json.loads(body),
            }
            with _lock, open(args.out, "a", encoding="utf-8") as out:
                out.write(json.dumps(record) + "\n")
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_args) -> None:
            pass

    http.server.ThreadingHTTPServer(("0.0.0.0", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
