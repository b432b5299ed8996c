"""Pore Studio's router (served by `streamlit run app.py`, see app.py). Every page lives in ``pages/``."""

import streamlit as st

from porelib.app import state

# The icon is a local file: a Material icon name here would make the browser fetch it from Google's font server.
st.set_page_config(page_title="Pore Studio", page_icon=str(state.ICON), layout="wide")

# Every page's widgets are created with persist_state="session", so choices survive page switches.
state.init_state(st.session_state)

PAGES = [
    st.Page(page.path, title=page.title, icon=page.icon, default=number == 0)
    for number, page in enumerate(state.PAGES)
]
st.navigation(PAGES).run()
