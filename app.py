"""Pore Studio: ``streamlit run app.py``. The router; every page lives in ``pages/``."""

import streamlit as st

st.set_page_config(page_title="Pore Studio", page_icon="🧽", layout="wide")
navigation = st.navigation([st.Page("pages/home.py", title="Home", icon="🏠", default=True)])
navigation.run()
