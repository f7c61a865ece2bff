#!/usr/bin/env python3
"""Tiny static file server for the qconv-lens page (standard library only).

Serves DIRECTORY on 127.0.0.1:PORT with `.wasm` as `application/wasm` (needed
for WebAssembly.instantiateStreaming) and caching disabled, so a rebuilt
www/pkg is picked up on reload. PORT 0 picks a free port; --port-file writes
the port actually bound (scripts/test uses this to avoid races).
"""
import argparse
import functools
import http.server
import os
import sys


class Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".wasm": "application/wasm",
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".json": "application/json",
        ".svg": "image/svg+xml",
    }

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, fmt, *args):
        if not self.server.quiet:
            super().log_message(fmt, *args)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--directory", default=os.getcwd())
    ap.add_argument("--port-file", help="write the bound port to this file")
    ap.add_argument("--quiet", action="store_true", help="no request log")
    a = ap.parse_args()

    handler = functools.partial(Handler, directory=a.directory)
    httpd = http.server.ThreadingHTTPServer((a.bind, a.port), handler)
    httpd.quiet = a.quiet
    port = httpd.server_address[1]
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.replace(tmp, a.port_file)
    print(f"serving {a.directory} at http://{a.bind}:{port}/", flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
