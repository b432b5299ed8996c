"""The Generate page's density slider in a real browser: ``python -m porelib bench app [--quick]``.

:func:`run` starts ``streamlit run app.py`` on loopback (:class:`porelib.bench.app_load.Server`,
runs folder in a temporary directory) and drives Debian's chromium with Playwright. For each
ready generator it opens Generate, picks the model, orbits the 3D view once (so that a kept
camera can be told from a reset one), then :data:`TRIALS` times presses → on the focused
density slider (a new, uncached density each time) and measures, in the page's own clock
(``performance.now()``) from the key press:

- **busy**: the page's status line says "Generating d = <new density>";
- **sections**: the section image has a new source and it has loaded;
- **3D**: the WebGL viewer (``porelib/app/mesh_view.js``) has drawn the new surface
  (``window.__poreViewer.renders``);
- **shown**: the later of sections and 3D, the figure the target (≤ :data:`TARGET_S` s,
  median) is about.

Medians come with percentile bootstrap intervals (:func:`porelib.bootstrap.bootstrap_median`).
The report goes to ``docs/bench/app.md`` and ``.json``. Nothing leaves 127.0.0.1: every
request the page makes to another host is counted and reported (it must be 0).

The browser helpers (:func:`launch`, :func:`wait_script_done`) are shared with
``tests/test_browser.py``.
"""

from __future__ import annotations

import os
import statistics
import tempfile
from contextlib import contextmanager
from pathlib import Path

from porelib import registry
from porelib.bench._report import write_report
from porelib.bench.app_load import Server
from porelib.bootstrap import bootstrap_median

#: Debian's chromium, and flags for a headless run on a machine without a GPU.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--enable-unsafe-swiftshader",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
VIEWPORT = {"width": 1400, "height": 1600}
#: Slider moves per model in a full and a quick run.
TRIALS = 7
QUICK_TRIALS = 3
#: The target: median seconds from the key press until both sections and 3D view are new.
TARGET_S = 1.0
#: Seconds a page may take to finish its first run (the first one imports torch and loads models).
FIRST_RUN_TIMEOUT_S = 180.0
#: Seconds a slider move may take before the trial is recorded as failed.
MOVE_TIMEOUT_S = 30.0
#: Labels on the Generate page (pages/generate.py) and its viewer's key.
SLIDER_LABEL = "Density factor d"
MODEL_LABEL = "Model"
VIEW_KEY = "generate_3d"

#: Runs in the page after the key press: resolves with the times (ms since ``t0``) at which
#: the busy line, the new section image and the new 3D surface first showed.
_WATCH_MOVE = """async ([t0, oldImage, oldScene, density, key]) => {
  const times = {};
  const image = () => document.querySelector('[data-testid="stMain"] img[src*="/media/"]');
  while (performance.now() - t0 < %d) {
    const now = performance.now() - t0;
    const main = document.querySelector('[data-testid="stMain"]');
    if (times.busy === undefined && main && main.innerText.includes('Generating d = ' + density)) times.busy = now;
    const img = image();
    if (times.sections === undefined && img && img.src !== oldImage && img.complete && img.naturalWidth > 0)
      times.sections = now;
    const renders = (window.__poreViewer || {renders: []}).renders;
    if (times.view === undefined && renders.some(r => r.key === key && r.id !== oldScene && r.t >= t0))
      times.view = Math.min(...renders.filter(r => r.key === key && r.id !== oldScene && r.t >= t0).map(r => r.t)) - t0;
    if (times.sections !== undefined && times.view !== undefined) return times;
    await new Promise(r => requestAnimationFrame(r));
  }
  return times;
}""" % int(MOVE_TIMEOUT_S * 1000)


@contextmanager
def launch():
    """A headless chromium (Playwright); raises ``RuntimeError`` saying what to install when it is missing."""
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise RuntimeError("playwright is not installed: pip install -r requirements-dev.txt") from exc
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()


def wait_script_done(page, timeout_s: float = FIRST_RUN_TIMEOUT_S) -> None:
    """Wait until Streamlit has finished running the page's script."""
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(
        state="attached", timeout=timeout_s * 1000
    )


def _scene_id(page) -> str:
    return page.locator("canvas.pore-view").first.get_attribute("data-scene-id") or ""


def _camera(page) -> list[float]:
    return page.locator("canvas.pore-view").first.evaluate("c => [c.viewer.camera.yaw, c.viewer.camera.pitch]")


def _open_generate(page, url: str, model: str) -> None:
    page.goto(f"{url}/generate")
    wait_script_done(page)
    label = registry.label(model)
    selectbox = page.locator('[data-testid="stSelectbox"]').filter(has_text=MODEL_LABEL).first
    if label not in selectbox.inner_text():
        selectbox.click()
        page.get_by_role("option", name=label).click()
        page.wait_for_timeout(300)
        wait_script_done(page)
    # The viewer lives in a shadow root: Playwright's CSS locators pierce it, document.querySelector does not.
    page.locator("canvas.pore-view[data-scene-id]").first.wait_for(state="attached",
                                                                    timeout=FIRST_RUN_TIMEOUT_S * 1000)  # fmt: skip


def _orbit(page) -> None:
    """Drag across the 3D view: the camera leaves its default position."""
    box = page.locator("canvas.pore-view").first.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 60, y + 25, steps=5)
    page.mouse.up()


def measure_model(page, url: str, model: str, trials: int) -> dict:
    """Open Generate on ``model`` and time ``trials`` slider moves; returns the per-trial figures in seconds."""
    _open_generate(page, url, model)
    _orbit(page)
    camera = _camera(page)
    slider = page.get_by_role("slider", name=SLIDER_LABEL)
    figures = {"busy": [], "sections": [], "view": [], "shown": []}
    failed, camera_kept = 0, True
    for _ in range(trials):
        wait_script_done(page)
        value = round(float(slider.input_value()) + 0.01, 2)
        old_image = page.locator('[data-testid="stMain"] img[src*="/media/"]').first.get_attribute("src")
        old_scene = _scene_id(page)
        slider.focus()
        t0 = page.evaluate("() => performance.now()")
        page.keyboard.press("ArrowRight")
        times = page.evaluate(_WATCH_MOVE, [t0, old_image, old_scene, f"{value:.2f}", VIEW_KEY])
        if "sections" not in times or "view" not in times:
            failed += 1
            continue
        for name in ("sections", "view"):
            figures[name].append(times[name] / 1000)
        figures["shown"].append(max(times["sections"], times["view"]) / 1000)
        figures["busy"].append(times["busy"] / 1000 if "busy" in times else float("nan"))
        camera_kept &= _camera(page) == camera
    wait_script_done(page)
    figures.update(failed=failed, camera_kept=camera_kept, density_end=slider.input_value())
    return figures


def _median_cells(prefix: str, values: list[float]) -> dict:
    if not values:
        return {f"{prefix}_median_s": None, f"{prefix}_low_s": None, f"{prefix}_high_s": None}
    median, low, high = bootstrap_median(values)
    return {f"{prefix}_median_s": round(median, 3), f"{prefix}_low_s": round(low, 3), f"{prefix}_high_s": round(high, 3)}


def run(*, out_dir, quick: bool = False) -> list[dict]:
    """Time the density slider on Generate for every ready generator; write ``app.md`` and ``app.json``."""
    from porelib.app.state import model_status

    models = [name for name in registry.names(role="generator") if model_status(name).ready]
    if quick:
        models = models[:1]
    trials = QUICK_TRIALS if quick else TRIALS
    rows, raw, external = [], {}, []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="porelib-bench-app-") as folder:
        server = Server(Path(folder))
        server.start()
        try:
            with launch() as browser:
                context = browser.new_context(viewport=VIEWPORT)
                page = context.new_page()
                page.on("request", lambda request: external.append(request.url)
                        if not request.url.startswith((server.url, "data:", "blob:")) else None)  # fmt: skip
                for model in models:
                    figures = measure_model(page, server.url, model, trials)
                    raw[model] = figures
                    shown_ok = figures["shown"] and statistics.median(figures["shown"]) <= TARGET_S
                    busy = [t for t in figures["busy"] if t == t]
                    rows.append({
                        "model": registry.label(model),
                        "trials": len(figures["shown"]),
                        "failed": figures["failed"],
                        **_median_cells("shown", figures["shown"]),
                        **_median_cells("sections", figures["sections"]),
                        **_median_cells("view3d", figures["view"]),
                        "busy_shown": f"{len(busy)}/{len(figures['shown'])}",
                        **_median_cells("busy", busy),
                        "camera_kept": figures["camera_kept"],
                        "target_met": bool(shown_ok),
                    })
                context.close()
        finally:
            server.stop()
            log = server.log()
    load_after = os.getloadavg()
    warnings = [line for line in log.splitlines() if "WARNING" in line or "Traceback" in line or "WARN|" in line]
    notes = (
        f"`python -m porelib bench app{' --quick' if quick else ''}`: `streamlit run app.py` on loopback and Debian's "
        "chromium (Playwright, headless, software WebGL). Per model: open Generate, pick the model, drag the 3D view "
        f"once, then {trials} presses of → on the density slider (each a new density, not cached). Seconds from the "
        "key press, in the page's clock: **shown** = both the new section image and the new 3D surface drawn (the "
        f"target: median ≤ {TARGET_S:g} s); **sections**, **view3d** separately; **busy** = the status line says "
        "\"Generating d = …\" (the page's busy state). Medians with 95 % percentile bootstrap intervals "
        "(porelib.bootstrap.bootstrap_median). camera_kept: the orbited camera was unchanged after every move.\n\n"
        f"Machine: {os.cpu_count()} CPUs shared with other jobs; load average (1, 5, 15 min) "
        f"{tuple(round(v, 2) for v in load_before)} before, {tuple(round(v, 2) for v in load_after)} after. "
        f"Requests to other hosts: {len(external)}. Server log warnings: {len(warnings)}."
    )
    extra = {"trials_s": raw, "external_requests": external, "server_warnings": warnings[:20],
             "load_average_before": load_before, "load_average_after": load_after, "target_s": TARGET_S}  # fmt: skip
    write_report("app", rows, out_dir, notes=notes, extra=extra)
    return rows
