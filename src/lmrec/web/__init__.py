"""The web console: static HTML, CSS and JavaScript served by the API process.

There is no build step and nothing is fetched from the internet: the files in
``static/`` are the whole front end, shipped as package data. The console only
talks to the public ``/v1`` API (plus the read-only endpoints in
``lmrec.api.console_routes``), so everything it shows can be scripted too.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"

#: The page may load only its own files: a stray CDN link fails loudly in the browser tests.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


def mount_console(app: FastAPI) -> None:
    """Serve the console at ``/`` and its assets under ``/static``."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="console-static")

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def console() -> FileResponse:
        return FileResponse(
            STATIC_DIR / "index.html",
            media_type="text/html",
            headers={
                "Content-Security-Policy": CONTENT_SECURITY_POLICY,
                "Cache-Control": "no-cache",
                "X-Content-Type-Options": "nosniff",
            },
        )


__all__ = ["STATIC_DIR", "mount_console"]
