"""Issue #26, item 5: the real app server under simultaneous sessions, one of them hostile.

A short run of ``python -m porelib bench app-load --quick``: ``streamlit run app.py`` on
loopback, 8 sessions over its websocket for ``QUICK_SECONDS`` (4 moving the density slider
on Generate, 3 uploading good grids on Score, 1 uploading tests/hostile/ files and then a
good grid). The server must stay up, every request must get its right answer, the hostile
uploads exactly their ``st.error``, the good grid after each be scored, and the memory of
the server's process tree stay under a bound (see ``MEMORY_GROWTH_LIMIT``).
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("psutil")
pytest.importorskip("websockets.sync.client")

from porelib.bench import app_load
from porelib.bench.app_load import Answer, Element, _problem

#: How much the memory (PSS) of the server's process tree may grow over its level after
#: the warm-up. The uploads here are at most 27 kB; everything the app keeps is in caches
#: with a bounded number of entries (pages/_common.py) or in 8 small session states; the
#: runs in flight hold a few 30³ grids, their charts and exports each. On this machine the
#: growth was 0.3-0.5 GiB in 15 s runs and 0.7-0.8 GiB in 60 s ones, where it levelled off
#: after about 30 s (measured while a 3D exporter worker and forks of the server still existed:
#: the app now sends 3D meshes to the browser and has neither). 1 GiB is the app's input limit, the most one accepted
#: file may take: a hostile header read as declared (909 TiB) or a leak of a file per
#: request shows far above it.
MEMORY_GROWTH_LIMIT = 1 << 30
#: And in absolute terms (after the warm-up: server ~0.8 GiB).
MEMORY_LIMIT = 4 << 30
#: Tracebacks in the server log that are known and not this test's subject: none since the
#: 3D view stopped using trame (whose vtklocal tried to download VTK's WebAssembly).
KNOWN_TRACEBACKS = ()


def test_eight_sessions_one_hostile_against_the_real_server(tmp_path):
    rows = app_load.run(out_dir=tmp_path, quick=True)
    report = json.loads((tmp_path / "app_load.json").read_text())
    table = {row["sessions"].split(" ")[0]: row for row in rows}
    assert report["server_alive"] and report["fresh_session_answered"], report["log_warnings"]
    assert report["hung_sessions"] == 0
    assert report["problems"] == [] and table["all"]["errors"] == 0, report["problems"]
    # Every session opened its page and got at least one more answer, and every request its answer.
    assert len(report["per_session"]) == app_load.SESSIONS
    for session in report["per_session"]:
        assert session["requests"] >= 2 and session["answers"] == session["requests"], session
    # The hostile uploads got their st.error (checked per answer: one error, "above the input
    # limit", no porosity), and the good grid uploaded after each in the same session was scored.
    hostile = table["hostile"]
    assert hostile["expected errors"] >= 1 and hostile["recoveries"] == hostile["expected errors"], hostile
    assert table["all"]["expected errors"] == hostile["expected errors"]
    assert report["peak_memory"] <= report["rest_memory"] + MEMORY_GROWTH_LIMIT, report["memory_timeline"]
    assert report["peak_memory"] <= MEMORY_LIMIT
    tracebacks = [line for line in report["log_warnings"] if line.startswith("Traceback")]
    assert not [line for line in tracebacks if not any(known in line for known in KNOWN_TRACEBACKS)], tracebacks
    assert "above the input limit" in (tmp_path / "app_load.md").read_text()


def _answer(*elements: Element) -> Answer:
    return Answer(list(elements), 0.1)


def test_an_answer_is_right_only_with_its_metric_and_without_unexpected_errors():
    porosity = Element("metric", label="Porosity φ", body="0.1234")
    assert _problem(_answer(porosity), metric="Porosity φ", value="0.1234") is None
    assert "shows 0.1234" in _problem(_answer(porosity), metric="Porosity φ", value="0.2")
    assert "no 'Porosity φ'" in _problem(_answer(), metric="Porosity φ")
    assert "exception" in _problem(_answer(porosity, Element("exception", body="KeyError: x")), metric="Porosity φ")
    assert "error shown" in _problem(_answer(porosity, Element("alert", body="bad", error=True)), metric="Porosity φ")
    assert _problem(_answer(Element("alert", body="careful", error=False), porosity), metric="Porosity φ") is None


def test_a_hostile_answer_is_right_only_with_one_error_naming_the_limit():
    refused = Element("alert", body="file 'huge.vti' declares ... above the input limit of 1 GiB", error=True)
    expect = {"error_words": "above the input limit", "no_metric": "Porosity φ"}
    assert _problem(_answer(refused), **expect) is None
    assert "expected one st.error" in _problem(_answer(), **expect)
    assert "expected one st.error" in _problem(_answer(refused, refused), **expect)
    assert "should have been refused" in _problem(_answer(refused, Element("metric", label="Porosity φ")), **expect)
