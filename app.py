"""Pore Studio: ``streamlit run app.py``. The router; every page lives in ``pages/``."""

import streamlit as st

from porelib.app import state

st.set_page_config(page_title="Pore Studio", page_icon=":material/bubble_chart:", layout="wide")

# Every page's widgets are created with persist_state="session", so choices survive page switches.
state.init_state(st.session_state)

PAGES = [
    st.Page(page.path, title=page.title, icon=page.icon, default=number == 0)
    for number, page in enumerate(state.PAGES)
]
st.navigation(PAGES).run()
