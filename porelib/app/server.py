"""The app's web server: Streamlit's own, plus one route per page that keeps the browser on this machine's paths.

``streamlit run app.py`` finds ``app = st.App("studio.py", routes=page_routes())`` in
``app.py`` and serves the router ``studio.py`` with these routes before Streamlit's.

Why: opened directly at ``/<page>``, Streamlit's frontend first looks for its server
under ``/<page>/_stcore/`` and only then under ``/_stcore/`` (streamlit/streamlit#7074),
so every page logged two 404s. Each route here answers ``/<page>`` with Streamlit's own
``index.html`` plus one line telling the frontend where its server is
(``window.__streamlit.BACKEND_BASE_URL``, the site's root), so it asks there first.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from porelib.app.state import PAGES

#: Set before Streamlit's scripts load: the server lives at the site's root, whatever page is open.
BASE_URL_SCRIPT = '<script>window.__streamlit = {BACKEND_BASE_URL: window.location.origin + "/"};</script>'


@cache
def page_html() -> str:
    """Streamlit's ``index.html`` with :data:`BASE_URL_SCRIPT` first in its ``<head>``."""
    from importlib.util import find_spec

    # Located, not imported: porelib never imports streamlit (the pages are its only views).
    index = (Path(find_spec("streamlit").origin).parent / "static" / "index.html").read_text()
    if "<head>" not in index:
        raise RuntimeError("streamlit's static/index.html has no <head>: this Streamlit version is not supported")
    return index.replace("<head>", "<head>" + BASE_URL_SCRIPT, 1)


def page_url_paths() -> list[str]:
    """The URL path of every page but Home (Streamlit's default: the file's stem)."""
    return [Path(page.path).stem for page in PAGES[1:]]


def page_routes() -> list:
    """Starlette routes answering ``GET /<page>`` (and ``/<page>/``) with :func:`page_html`."""
    from starlette.responses import HTMLResponse
    from starlette.routing import Route

    async def page(request):
        return HTMLResponse(page_html(), headers={"Cache-Control": "no-cache"})

    return [Route(f"/{name}", page, methods=["GET"]) for name in page_url_paths()]
