"""Helpers for the Streamlit AppTests of the pages."""

from __future__ import annotations

import io

import numpy as np
from streamlit.testing.v1 import AppTest


def assert_clean(at: AppTest) -> None:
    """Fail with the messages of any exception the page showed."""
    assert not at.exception, [e.value for e in at.exception]


def metrics(at: AppTest) -> dict:
    """The page's ``st.metric`` values by label."""
    return {m.label: m.value for m in at.metric}


def npy_bytes(array) -> bytes:
    """``array`` as the bytes of a ``.npy`` file."""
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def npz_bytes(**arrays) -> bytes:
    """``arrays`` as the bytes of a ``.npz`` file."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


APP = str(__import__("pathlib").Path(__file__).resolve().parent.parent / "studio.py")
#: Seconds an AppTest run may take (the first one imports VTK and torch).
TIMEOUT = 120


def app_page(name: str) -> AppTest:
    """The app opened on ``pages/<name>.py`` through ``studio.py``'s navigation, after its first run."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.switch_page(f"pages/{name}.py")
    at.run()
    assert_clean(at)
    return at
