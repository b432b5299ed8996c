"""Pore Studio: ``streamlit run app.py``. The server; the router is ``studio.py``, every page lives in ``pages/``.

``app`` is Streamlit's own server with one route per page (:mod:`porelib.app.server`), so
that a page opened by its address finds the server without two 404s first.
"""

import streamlit as st

from porelib.app.server import page_routes

app = st.App("studio.py", routes=page_routes())
