"""Serve the ASGI app (HTTP + WebSocket): ``python -m pynomaly_web.serve [--host H] [--port P]``.

One place for the web server's options, used by the Procfile, the tests and the benches.
Uvicorn rather than Daphne: Daphne 4 queues a whole request body in memory before the app
sees it (2.8 GB of RSS for a 196 MB upload, measured), uvicorn applies flow control and
hands the body over in chunks. Proxy headers are off: ``X-Forwarded-For`` is believed only
through ``TRUSTED_PROXIES`` (apps/audit/services.client_ip), never by the server itself.
"""

from __future__ import annotations

import argparse
import os


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(
        prog="python -m pynomaly_web.serve", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--host", default=os.environ.get("WEB_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("WEB_PORT", "8000")))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_WORKERS", "1")))
    parser.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pynomaly_web.settings")
    uvicorn.run(
        "pynomaly_web.asgi:application",
        host=args.host,
        port=args.port,
        workers=args.workers,
        proxy_headers=False,
        server_header=False,
        access_log=args.access_log,
        lifespan="off",
        ws="websockets",
        ws_ping_interval=20,
        log_level=os.environ.get("LOG_LEVEL", "info").lower(),
    )


if __name__ == "__main__":
    main()
