"""Pore Studio: ``streamlit run app.py``. The router; every page lives in ``pages/``."""

import streamlit as st

from porelib import app_state

st.set_page_config(page_title="Pore Studio", page_icon=":material/bubble_chart:", layout="wide")

# Every page's widgets are created with persist_state="session", so choices survive page switches.
app_state.init_state(st.session_state)

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/generate.py", title="Generate", icon=":material/view_in_ar:"),
    st.Page("pages/compare.py", title="Compare to dataset", icon=":material/compare:"),
    st.Page("pages/score.py", title="Score your grid", icon=":material/straighten:"),
    st.Page("pages/from_image.py", title="From an image", icon=":material/layers:"),
    st.Page("pages/segment.py", title="Segment a scan", icon=":material/blur_on:"),
]
st.navigation(PAGES).run()
