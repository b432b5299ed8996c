"""porelib.app.server: the route per page that spares the browser two 404s (streamlit#7074)."""

from __future__ import annotations

import asyncio

from porelib.app import server
from porelib.app.state import PAGES


def test_every_page_but_home_is_served_with_the_root_as_backend():
    routes = server.page_routes()
    names = [page.path.removeprefix("pages/").removesuffix(".py") for page in PAGES[1:]]
    assert [route.path for route in routes] == [f"/{name}" for name in names]
    response = asyncio.run(routes[0].endpoint(None))
    assert response.status_code == 200 and response.headers["cache-control"] == "no-cache"
    head = response.body.decode().split("</head>")[0]
    assert server.BASE_URL_SCRIPT in head
    assert head.index(server.BASE_URL_SCRIPT) < head.index('<script type="module"')  # before Streamlit's bundle
