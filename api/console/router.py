"""GET /console: the trader console, one static page and its assets under a strict CSP."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from starlette.responses import Response
from starlette.staticfiles import PathLike, StaticFiles
from starlette.types import Scope

HERE = Path(__file__).resolve().parent
PAGE = HERE / "index.html"
ASSETS = HERE / "assets"
ASSETS_PATH = "/console/assets"

# Every script and style is a file of this server: no inline code, no other origin, so an
# injected tag runs nothing. connect-src 'self' covers this origin's ws:// and wss:// too
# (CSP Level 3). form-action 'none': forms submit through the scripts only, so a page whose
# scripts failed never posts a password anywhere.
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self'",
    "connect-src 'self'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
))
# The edge (api/edge.py) adds nosniff, no-referrer and X-Frame-Options to every answer.
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    # Revalidate every time (ETag/Last-Modified answer 304): a deploy is picked up at once.
    "Cache-Control": "no-cache",
}
# Module scripts need a JavaScript type; not every system's mime.types names .mjs.
MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8",
               ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
PLAIN_TEXT = "text/plain; charset=utf-8"  # licenses and the vendored files' README

router = APIRouter(include_in_schema=False)


@router.get("/console")
async def console() -> FileResponse:
    """Serve the trader console's page."""
    return FileResponse(PAGE, media_type="text/html; charset=utf-8", headers=HEADERS)


class ConsoleAssets(StaticFiles):
    """The console's scripts, styles and vendored libraries, with the page's headers."""

    def file_response(self, full_path: PathLike, stat_result: os.stat_result, scope: Scope,
                      status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(HEADERS)
        if response.status_code != 304:
            response.headers["content-type"] = MEDIA_TYPES.get(Path(full_path).suffix,
                                                               PLAIN_TEXT)
        return response


def install(app: FastAPI) -> None:
    """Serve the console page at /console and its files under /console/assets."""
    app.include_router(router)
    app.mount(ASSETS_PATH, ConsoleAssets(directory=ASSETS), name="console-assets")
