"""Load test of the app's real server: simultaneous browser-free sessions over Streamlit's websocket.

``python -m porelib bench app-load [--seconds 60] [--quick]`` calls :func:`run`. It starts
``streamlit run app.py`` on a free loopback port (runs folder in a temporary directory),
then drives :data:`SESSIONS` sessions at once, each in its own thread, for the given time:

- **slider** sessions open Generate and move the density slider to random values; an
  answer is right when the run ends with the statistics (the "Porosity φ" metric), the
  caption names the new density and no exception or error is shown;
- **upload** sessions open Score and upload good grids (``porelib.synth.pore_grid`` as
  ``.npy``); right when the porosity metric shows the grid's porosity;
- the **hostile** session uploads the files of ``tests/hostile/`` that Score accepts
  (``huge.vti`` first: the .vti of issue #26, 100 000³ voxels declared in 521 bytes) and each time must get one
  ``st.error`` saying "above the input limit", then uploads a good grid in the same
  session, which must be scored (a "recovery").

Each request waits for its answer (``script_finished``) before the next, with a short
think time. Meanwhile the memory (PSS) of the server process and its children (the
isolated parsers of uploads, any fork) is sampled with psutil. The figures go to
``docs/bench/app_load.md`` and ``.json``.

:class:`AppSession` is a small client of Streamlit's own protocol (the protobufs in
``streamlit.proto``), doing what the browser's frontend does. It is a test tool: no page
imports it, and nothing here is imported by the rest of porelib. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import io as stdio
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import numpy as np

from porelib.bench._report import markdown_table, write_report

ROOT = Path(__file__).resolve().parents[2]
HOSTILE_DIR = ROOT / "tests" / "hostile"

#: Simultaneous sessions and what each does (its index picks the kind).
SESSIONS = 8
KINDS = ("slider", "slider", "slider", "slider", "upload", "upload", "upload", "hostile")
#: Seconds of load (after the warm-up) in a full and a quick run.
SECONDS = 60.0
QUICK_SECONDS = 15.0
#: Pause between an answer and the session's next request (a user's reaction, and it lets
#: the other sessions' runs interleave).
THINK_S = 0.2
#: A request without its answer after this long is an error (the machine may be busy).
ANSWER_TIMEOUT_S = 180.0
#: Seconds the server may take to answer its health check after start.
STARTUP_TIMEOUT_S = 120.0
#: Memory sampling period of the server's process tree.
SAMPLE_S = 0.25
#: Files of tests/hostile/ uploaded on Score, in turn, and the words their error must hold.
HOSTILE_FILES = ("huge.vti", "huge.npy", "huge.npz", "huge.tif")
HOSTILE_WORDS = "above the input limit"
#: Densities the slider is moved to, and of the good grids uploaded.
SLIDER_RANGE = (0.10, 0.95)
GOOD_GRIDS = ((0.35, 1), (0.5, 2), (0.6, 3), (0.7, 4), (0.8, 5), (0.9, 6))
#: Labels the clients look for (pages/generate.py, pages/score.py).
SLIDER_LABEL = "Density factor d"
UPLOADER_LABEL = "Grid file"
POROSITY_LABEL = "Porosity φ"
#: Problems kept verbatim in the report (the counts cover them all).
MAX_PROBLEMS = 20


# ----------------------------------------------------------------------------- the client


@dataclass(frozen=True)
class Element:
    """What the client keeps of one ``delta.new_element``: its kind and a few fields."""

    kind: str
    id: str = ""
    label: str = ""
    body: str = ""
    error: bool = False  # an st.error (alert of format ERROR)


@dataclass
class Answer:
    """The elements one script run sent, and how long the request took."""

    elements: list[Element]
    seconds: float

    def of_kind(self, kind: str) -> list[Element]:
        return [element for element in self.elements if element.kind == kind]

    def widget_id(self, kind: str, label: str) -> str:
        """The id of the widget ``kind`` labelled ``label``; ``KeyError`` if the run drew none."""
        for element in self.of_kind(kind):
            if element.label == label:
                return element.id
        raise KeyError(f"no {kind} labelled {label!r} in the answer")

    def metric(self, label: str) -> str | None:
        """The value shown by the metric ``label``, or ``None``."""
        return next((element.body for element in self.of_kind("metric") if element.label == label), None)

    @property
    def errors(self) -> list[str]:
        """Texts of the ``st.error`` alerts."""
        return [element.body for element in self.of_kind("alert") if element.error]

    @property
    def exceptions(self) -> list[str]:
        """Exceptions drawn on the page (``st.exception`` or an uncaught one)."""
        return [element.body for element in self.of_kind("exception")]

    def text(self) -> str:
        """All markdown and alert text, one element per line."""
        return "\n".join(element.body for element in self.elements if element.kind in ("markdown", "alert"))


def _element(proto) -> Element:
    from streamlit.proto.Alert_pb2 import Alert

    kind = proto.WhichOneof("type") or ""
    body = getattr(proto, kind, None)
    if kind == "alert":
        return Element(kind, body=body.body, error=body.format == Alert.ERROR)
    if kind == "metric":
        return Element(kind, label=body.label, body=body.body)
    if kind == "exception":
        return Element(kind, body=f"{body.type}: {body.message}")
    if kind in ("markdown", "heading"):
        return Element(kind, body=body.body)
    if kind in ("slider", "file_uploader"):
        return Element(kind, id=body.id, label=body.label)
    return Element(kind)


class AppSession:
    """One browser tab of a running Streamlit app, driven over its websocket.

    Does what the frontend does: a GET of ``/_stcore/health`` sets the ``_streamlit_xsrf``
    cookie; ``/_stcore/stream`` is opened with the subprotocols ``streamlit, <token>``;
    each request is a ``BackMsg.rerun_script`` holding the page and the widget states the
    session has set, and its answer is every ``ForwardMsg`` up to ``script_finished``.
    An upload asks for a URL (``file_urls_request`` → ``file_urls_response``), PUTs the
    file there with the XSRF header and cookie, and reruns with the uploader's state.
    Widgets whose state is not sent keep their previous value on the server.
    """

    def __init__(self, base_url: str, page: str, *, timeout_s: float = ANSWER_TIMEOUT_S):
        from websockets.sync.client import connect

        self.base_url, self.page, self.timeout_s = base_url, page, timeout_s
        with urllib.request.urlopen(f"{base_url}/_stcore/health", timeout=timeout_s) as response:
            self._cookie = response.headers["set-cookie"].split(";")[0]  # _streamlit_xsrf=2|...|...|...
        self._token = self._cookie.split("=", 1)[1]
        host = base_url.split("://", 1)[1]
        # No keep-alive pings (a browser sends none): a busy server must not look dead.
        self._stack = ExitStack()
        self._ws = self._stack.enter_context(connect(
            f"ws://{host}/_stcore/stream", subprotocols=["streamlit", self._token],
            additional_headers={"Cookie": self._cookie, "Origin": base_url},
            max_size=None, ping_interval=None, open_timeout=timeout_s, close_timeout=5,
        ))  # fmt: skip
        self.session_id = ""
        self._page_hash = ""
        self._widgets: dict[str, object] = {}
        self._files: dict[str, object] = {}  # uploader id -> its current UploadedFileInfo

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- requests

    def rerun(self) -> Answer:
        """Run the page with the current widget states; return the run's elements."""
        from streamlit.proto.BackMsg_pb2 import BackMsg

        started = time.monotonic()
        message = BackMsg()
        state = message.rerun_script
        state.page_name = self.page
        state.page_script_hash = self._page_hash
        state.widget_states.widgets.extend(self._widgets.values())
        self._ws.send(message.SerializeToString())
        return Answer(self._read_run(started), time.monotonic() - started)

    def set_slider(self, widget_id: str, value: float) -> Answer:
        """Move a slider to ``value`` and rerun."""
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        state = WidgetState(id=widget_id)
        state.double_array_value.data.append(float(value))
        self._widgets[widget_id] = state
        return self.rerun()

    def upload(self, widget_id: str, name: str, data: bytes) -> Answer:
        """Put ``data`` as file ``name`` into the file uploader ``widget_id`` (replacing its file) and rerun."""
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.Common_pb2 import UploadedFileInfo
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        started = time.monotonic()
        request = BackMsg()
        request.file_urls_request.request_id = uuid.uuid4().hex
        request.file_urls_request.file_names.append(name)
        request.file_urls_request.session_id = self.session_id
        self._ws.send(request.SerializeToString())
        urls = self._read_until(
            lambda m: (
                m.WhichOneof("type") == "file_urls_response"
                and m.file_urls_response.response_id == request.file_urls_request.request_id
            )
        ).file_urls_response.file_urls[0]
        previous = self._files.pop(widget_id, None)
        if previous is not None:  # the frontend deletes the file it replaces
            self._http("DELETE", previous.file_urls.delete_url)
        boundary = uuid.uuid4().hex
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + data
            + f"\r\n--{boundary}--\r\n".encode()
        )
        self._http("PUT", urls.upload_url, body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        info = UploadedFileInfo(name=name, size=len(data), file_id=urls.file_id)
        info.file_urls.CopyFrom(urls)
        self._files[widget_id] = info
        state = WidgetState(id=widget_id)
        state.file_uploader_state_value.uploaded_file_info.append(info)
        self._widgets[widget_id] = state
        answer = self.rerun()
        answer.seconds = time.monotonic() - started
        return answer

    # -- transport

    def _http(self, method: str, url: str, body: bytes | None = None, headers: dict | None = None) -> None:
        url = url if url.startswith("http") else f"{self.base_url}{url}"
        headers = {**(headers or {}), "X-Xsrftoken": self._token, "Cookie": self._cookie, "Origin": self.base_url}
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
            if response.status >= 300:
                raise OSError(f"{method} {url}: HTTP {response.status}")

    def _receive(self, deadline: float):
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no answer from the server within {self.timeout_s:.0f} s")
        message = ForwardMsg()
        message.ParseFromString(self._ws.recv(timeout=remaining))
        return message

    def _read_until(self, done: Callable) -> object:
        deadline = time.monotonic() + self.timeout_s
        while True:
            message = self._receive(deadline)
            if done(message):
                return message

    def _read_run(self, started: float) -> list[Element]:
        """Read one script run's messages up to its ``script_finished`` (past runs ended for a rerun)."""
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        deadline = started + self.timeout_s
        elements: list[Element] = []
        while True:
            message = self._receive(deadline)
            kind = message.WhichOneof("type")
            if kind == "new_session":  # a run starts; after st.rerun(), the next one replaces it
                elements = []
                self.session_id = message.new_session.initialize.session_id or self.session_id
            elif kind == "navigation":  # st.navigation chose the page: the frontend keeps its hash
                self._page_hash = message.navigation.page_script_hash
            elif kind == "delta" and message.delta.WhichOneof("type") == "new_element":
                elements.append(_element(message.delta.new_element))
            elif kind == "script_finished":
                status = message.script_finished
                if status == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                    raise RuntimeError("the page failed to compile")
                if status == ForwardMsg.FINISHED_SUCCESSFULLY:
                    return elements


# ----------------------------------------------------------------------------- the server


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``streamlit run app.py`` on loopback in its own process group, with its memory sampled.

    Every :data:`SAMPLE_S` seconds a thread reads the memory of the server and all its
    children (:meth:`processes`). Since :meth:`reset_peaks`: ``peak_memory`` is the
    largest sum of their PSS, ``peak_rss_sum`` the largest sum of their RSS (an upper
    bound that counts shared pages once per process), ``peak_processes`` the most
    processes at once, ``peak_by_process`` each lasting process's largest PSS,
    ``forks_seen`` the forks of the server caught by a sample and ``timeline`` the PSS
    sums as ``(seconds since the reset, bytes)``.
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.folder / "streamlit.log"
        self.reset_peaks()
        self._sampling = threading.Event()
        self._sampler: threading.Thread | None = None
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                   "--server.port", str(self.port), "--server.address", "127.0.0.1",
                   "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]  # fmt: skip
        environment = {**os.environ, "PORELIB_RUNS_DIR": str(self.folder / "runs")}
        with self.log_path.open("w") as sink:
            self.process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=sink,
                                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not self.healthy():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"streamlit did not start on {self.url}:\n{self.log()[-3000:]}")
            time.sleep(0.3)
        self._sampler = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)
        self._sampler.start()

    def healthy(self) -> bool:
        """The process runs and ``/_stcore/health`` answers 200."""
        if self.process is None or self.process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=5) as response:
                return response.status == 200
        except OSError:
            return False

    def processes(self) -> dict[str, tuple[int, int]]:
        """(RSS, PSS) in bytes of the server and each of its children, keyed by ``"pid what"``.

        PSS divides each shared page among the processes that map it, so the PSS of a
        process tree adds up to the memory it holds (the server's forks share most of it).
        """
        import psutil

        sizes = {}
        try:
            server = psutil.Process(self.process.pid)
            processes = [(server, "streamlit server"), *((c, None) for c in server.children(recursive=True))]
        except psutil.Error:
            return sizes
        for process, what in processes:
            try:
                memory = process.memory_full_info()
                what = what or _what(process.cmdline())
            except psutil.Error:  # ended between the listing and the reading
                continue
            if what:  # an empty command line: a child that has exited (a zombie)
                sizes[f"{process.pid} {what}"] = (memory.rss, memory.pss)
        return sizes

    def memory(self) -> int:
        """Memory held by the server and its children now: the sum of their PSS, in bytes."""
        return sum(pss for _, pss in self.processes().values())

    def _sample(self) -> None:
        while not self._sampling.is_set():
            sizes = self.processes()
            total = sum(pss for _, pss in sizes.values())
            self.timeline.append((round(time.monotonic() - self._zero, 2), total))
            self.peak_memory = max(self.peak_memory, total)
            self.peak_rss_sum = max(self.peak_rss_sum, sum(rss for rss, _ in sizes.values()))
            self.peak_processes = max(self.peak_processes, len(sizes))
            for name, (_, pss) in sizes.items():
                if name.split(" ", 1)[1] == "fork of the server":
                    self.forks_seen.add(name)
                else:
                    self.peak_by_process[name] = max(self.peak_by_process.get(name, 0), pss)
            self._sampling.wait(SAMPLE_S)

    def reset_peaks(self) -> None:
        """Forget the peaks and samples so far (after the warm-up); the timeline starts at 0 now."""
        self._zero = time.monotonic()
        self.peak_memory = self.peak_rss_sum = self.peak_processes = 0
        self.peak_by_process, self.timeline, self.forks_seen = {}, [], set()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        """Stop sampling; SIGTERM to the server (it stops its children), then SIGKILL to what is left of its group."""
        self._sampling.set()
        if self._sampler is not None:
            self._sampler.join(timeout=5)
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        try:  # the group is the server's own (start_new_session): children it left behind
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait(timeout=10)


def _what(cmdline: list[str]) -> str:
    """A short name for a child process of the server, from its command line."""
    text = " ".join(cmdline)
    if "streamlit run" in text:  # a fork of the server that has not exec'd
        return "fork of the server"
    for marker, name in (("multiprocessing.spawn", "spawned worker"),
                         ("resource_tracker", "multiprocessing resource tracker"),
                         ("porelib.io.isolated", "isolated parser")):  # fmt: skip
        if marker in text:
            return name
    return text[:80]


# ----------------------------------------------------------------------------- the load


@dataclass
class Tally:
    """What one session, or the sessions of one kind, asked and got."""

    sessions: int = 0
    requests: int = 0
    answers: int = 0  # right answers, expected errors included
    expected_errors: int = 0  # the hostile file's st.error
    recoveries: int = 0  # a good file scored right after a hostile one
    errors: int = 0  # requests without a right answer
    latencies: list[float] = field(default_factory=list)


def _sum(tallies) -> Tally:
    total = Tally()
    for tally in tallies:
        for name in ("sessions", "requests", "answers", "expected_errors", "recoveries", "errors"):
            setattr(total, name, getattr(total, name) + getattr(tally, name))
        total.latencies += tally.latencies
    return total


class _Load:
    """Shared state of one load run: the tallies, the problems seen, the clock."""

    def __init__(self, url: str, deadline: float, good: list[tuple[str, bytes, str]]):
        self.url, self.deadline, self.good = url, deadline, good
        self.per_session: dict[int, tuple[str, Tally]] = {}
        self.problems: list[str] = []
        self._lock = threading.Lock()

    def tallies(self) -> dict[str, Tally]:
        """The sessions' tallies summed per kind (in the order of :data:`KINDS`)."""
        return {kind: _sum(t for k, t in self.per_session.values() if k == kind) for kind in dict.fromkeys(KINDS)}

    def record(self, index: int, answer: Answer | None, problem: str | None, *, expected_error=False, recovery=False):
        with self._lock:
            kind, tally = self.per_session[index]
            tally.requests += 1
            if problem is None:
                tally.answers += 1
                tally.latencies.append(answer.seconds)
                tally.expected_errors += expected_error
                tally.recoveries += recovery
            else:
                tally.errors += 1
                if len(self.problems) < MAX_PROBLEMS:
                    self.problems.append(f"{kind} session {index}: {problem}")
        return problem is None

    def session(self, index: int) -> None:
        kind = KINDS[index % len(KINDS)]
        with self._lock:
            self.per_session[index] = (kind, Tally(sessions=1))
        try:
            with AppSession(self.url, "generate" if kind == "slider" else "score") as session:
                opened = session.rerun()
                if kind == "slider":
                    self._slider(session, opened, index)
                else:
                    self._uploads(session, opened, kind, index)
        except Exception as exc:  # noqa: BLE001 - a transport failure or time-out ends the session, counted
            self.record(index, None, f"ended by {type(exc).__name__}: {exc}")

    def _slider(self, session: AppSession, opened: Answer, index: int) -> None:
        rng = np.random.default_rng(index)
        if not self.record(index, opened, _problem(opened, metric=POROSITY_LABEL)):
            return
        slider = opened.widget_id("slider", SLIDER_LABEL)
        while time.monotonic() < self.deadline:
            time.sleep(THINK_S)
            value = round(float(rng.uniform(*SLIDER_RANGE)), 2)
            answer = session.set_slider(slider, value)
            self.record(index, answer, _problem(answer, metric=POROSITY_LABEL, words=f"d = {value:.2f}"))

    def _uploads(self, session: AppSession, opened: Answer, kind: str, index: int) -> None:
        if not self.record(index, opened, _problem(opened, words="Upload a grid file")):
            return
        uploader = opened.widget_id("file_uploader", UPLOADER_LABEL)
        turn = 0
        while time.monotonic() < self.deadline:
            time.sleep(THINK_S)
            after_hostile = False
            if kind == "hostile":
                name = HOSTILE_FILES[turn % len(HOSTILE_FILES)]
                answer = session.upload(uploader, name, (HOSTILE_DIR / name).read_bytes())
                problem = _problem(answer, error_words=HOSTILE_WORDS, no_metric=POROSITY_LABEL)
                after_hostile = self.record(index, answer, problem, expected_error=True)
                time.sleep(THINK_S)
            name, data, porosity = self.good[(index + turn) % len(self.good)]
            answer = session.upload(uploader, name, data)
            self.record(index, answer, _problem(answer, metric=POROSITY_LABEL, value=porosity), recovery=after_hostile)
            turn += 1


def _problem(answer: Answer, *, metric=None, value=None, words=None, error_words=None, no_metric=None) -> str | None:
    """What is wrong with ``answer``, or ``None`` if it is the expected one.

    ``metric`` must be shown (with ``value`` if given), ``words`` be in its text; an
    ``st.error`` is expected only when ``error_words`` is given (exactly one, holding
    them); an exception is always wrong.
    """
    if answer.exceptions:
        return f"exception shown: {answer.exceptions[0][:300]}"
    if error_words is None and answer.errors:
        return f"error shown: {answer.errors[0][:300]}"
    if error_words is not None and (len(answer.errors) != 1 or error_words not in answer.errors[0]):
        return f"expected one st.error with {error_words!r}; got {[e[:200] for e in answer.errors]}"
    if no_metric is not None and answer.metric(no_metric) is not None:
        return f"{no_metric!r} shown for a file that should have been refused"
    if metric is not None:
        shown = answer.metric(metric)
        if shown is None:
            return f"no {metric!r} metric in the answer"
        if value is not None and shown != value:
            return f"{metric!r} shows {shown}, expected {value}"
    if words is not None and words not in answer.text():
        return f"{words!r} not in the answer"
    return None


def _good_grids() -> list[tuple[str, bytes, str]]:
    """(file name, .npy bytes, porosity as Score shows it) of the good grids uploaded."""
    from porelib.synth import pore_grid

    grids = []
    for density, seed in GOOD_GRIDS:
        grid = pore_grid(density, seed=seed)
        buffer = stdio.BytesIO()
        np.save(buffer, grid)
        grids.append((f"grid_d{density:.2f}_s{seed}.npy", buffer.getvalue(), f"{grid.mean():.4f}"))
    return grids


def _warm_up(url: str) -> float:
    """Open Generate and Score once (the dataset, the models and the 3D view load); return the seconds."""
    started = time.monotonic()
    for page in ("generate", "score"):
        with AppSession(url, page) as session:
            answer = session.rerun()
            problem = _problem(answer, metric=POROSITY_LABEL if page == "generate" else None)
            if problem:
                raise RuntimeError(f"warm-up of {page}: {problem}")
    return time.monotonic() - started


def _per_second(timeline: list[tuple[float, int]]) -> list[tuple[float, int]]:
    """The largest sample of each second of ``timeline``."""
    seconds: dict[int, tuple[float, int]] = {}
    for at, size in timeline:
        if size >= seconds.get(int(at), (0, -1))[1]:
            seconds[int(at)] = (at, size)
    return [seconds[key] for key in sorted(seconds)]


def _percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def load_test(*, seconds: float = SECONDS, sessions: int = SESSIONS) -> dict:
    """Start the server, warm it up, run ``sessions`` sessions for ``seconds``; return the figures.

    The result holds ``tallies`` (one :class:`Tally` per kind), ``problems``, the
    server's memory (bytes) at rest after the warm-up, at its peak under load and at the
    end, whether it was still healthy at the end (and answered a fresh session), the
    load average of the machine and the server log's warnings and tracebacks.
    """
    if not 1 <= sessions <= 64:
        raise ValueError(f"sessions must be in [1, 64]; got {sessions}")
    if not 0 < seconds <= 3600:
        raise ValueError(f"seconds must be in (0, 3600]; got {seconds}")
    good = _good_grids()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="porelib-app-load-") as folder:
        server = Server(Path(folder))
        server.start()
        try:
            warm_up_s = _warm_up(server.url)
            time.sleep(4 * SAMPLE_S)
            rest_memory = server.memory()
            server.reset_peaks()
            started = time.monotonic()
            load = _Load(server.url, started + seconds, good)
            threads = [threading.Thread(target=load.session, args=(i,), name=f"session-{i}") for i in range(sessions)]
            for thread in threads:
                thread.start()
            for thread in threads:  # each ends by the deadline plus at most one request's time-out
                thread.join(timeout=seconds + 3 * ANSWER_TIMEOUT_S)
            wall_s = time.monotonic() - started
            hung = sum(thread.is_alive() for thread in threads)
            time.sleep(4 * SAMPLE_S)
            end_memory = server.memory()
            alive = server.healthy()
            fresh = None
            if alive:
                try:
                    with AppSession(server.url, "score") as session:
                        fresh = _problem(session.rerun(), words="Upload a grid file") is None
                except Exception:  # noqa: BLE001 - reported as not answered
                    fresh = False
            alive = alive and server.healthy()
            log = server.log()  # before the shutdown, whose messages are not the load's
        finally:
            server.stop()
        shutdown_log = server.log()[len(log) :]
    return {
        "seconds": seconds,
        "wall_s": wall_s,
        "sessions": sessions,
        "warm_up_s": warm_up_s,
        "tallies": load.tallies(),
        "per_session": [
            {"session": index, "kind": kind, "requests": t.requests, "answers": t.answers, "errors": t.errors}
            for index, (kind, t) in sorted(load.per_session.items())
        ],
        "problems": load.problems,
        "hung_sessions": hung,
        "server_alive": alive,
        "fresh_session_answered": bool(fresh),
        "rest_memory": rest_memory,
        "peak_memory": server.peak_memory,
        "peak_rss_sum": server.peak_rss_sum,
        "peak_processes": server.peak_processes,
        "forks_seen": len(server.forks_seen),
        "peak_memory_by_process": server.peak_by_process,
        "memory_timeline": _per_second(server.timeline),
        "end_memory": end_memory,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "log_warnings": _log_warnings(log),
        "shutdown_log_warnings": _log_warnings(shutdown_log),
    }


# ----------------------------------------------------------------------------- the report


def _mib(n: int) -> float:
    return round(n / 2**20, 1)


def rows_of(result: dict) -> list[dict]:
    """One row per kind of session and one for all: counts and answer latency in seconds."""
    rows = []
    tallies = result["tallies"]
    for kind, tally in [*tallies.items(), ("all", _sum(tallies.values()))]:
        rows.append({
            "sessions": kind if kind == "all" else f"{kind} ×{tally.sessions}",
            "requests": tally.requests,
            "answers": tally.answers,
            "expected errors": tally.expected_errors,
            "recoveries": tally.recoveries,
            "errors": tally.errors,
            "median s": _percentile(tally.latencies, 50),
            "p95 s": _percentile(tally.latencies, 95),
            "max s": max(tally.latencies) if tally.latencies else None,
            "requests/s": round(tally.requests / result["wall_s"], 2),
        })  # fmt: skip
    return rows


def server_rows(result: dict) -> list[dict]:
    return [{
        "server alive at the end": result["server_alive"],
        "fresh session answered": result["fresh_session_answered"],
        "memory after warm-up MiB": _mib(result["rest_memory"]),
        "peak memory MiB": _mib(result["peak_memory"]),
        "memory at the end MiB": _mib(result["end_memory"]),
        "peak RSS sum MiB": _mib(result["peak_rss_sum"]),
        "processes (most at once)": result["peak_processes"],
    }]  # fmt: skip


NOTES = """\
`streamlit run app.py` on 127.0.0.1, driven through its websocket (`/_stcore/stream`) by
{sessions} simultaneous browser-free sessions (`porelib.bench.app_load.AppSession`: Streamlit's own
protobufs, uploads by PUT to `/_stcore/upload_file` as the frontend does) for {seconds:g} s, after a
warm-up of {warm_up_s:.1f} s (Generate and Score opened once: the dataset, the models and the 3D view load).
Slider sessions open Generate and move the density slider to random values; upload sessions
upload good grids on Score; the hostile session uploads tests/hostile/huge.vti, huge.npy,
huge.npz and huge.tif in turn, each to be answered by one `st.error` ("above the input limit"),
an *expected error*, and then a good grid in the same session, which must be scored (a *recovery*).
Each request waits for its answer (`script_finished`), then {think:g} s. *errors* are requests
without the right answer (time-out, exception or unexpected error shown, wrong value).
Latency: from the request (for an upload, from asking for its URL) to the end of the run.

Memory: the PSS (shared pages divided among the processes that map them) of the server and its
children, summed, sampled every {sample:g} s: the server and its short-lived children (the isolated
parsers of uploads); the sum of their RSS counts shared pages once per process and is shown as an
upper bound.

Machine: {cpus} CPUs shared with other jobs; load average (1, 5, 15 min) {load_before} before,
{load_after} after. On this machine the latencies are the machine's load as much as the app's.

{server_table}
Peak memory (PSS) of each lasting process (MiB): {by_process}; forks of the server seen: {forks}.
Memory of the process tree, largest per 10 s of load (MiB): {timeline}.

Problems: {problems}
Server log during the load: {log}
Server log at shutdown (SIGTERM): {shutdown}
"""


def _notes(result: dict) -> str:
    problems = "".join(f"\n- {problem}" for problem in result["problems"]) or "none."
    log, shutdown = (
        "".join(f"\n- {count} × `{line[:300]}`" for line, count in result[key].items()) or "no warnings."
        for key in ("log_warnings", "shutdown_log_warnings")
    )
    timeline = result["memory_timeline"]
    per_10_s = [
        _mib(max(size for at, size in timeline if start <= at < start + 10))
        for start in range(0, int(result["wall_s"]) + 1, 10)
        if any(start <= at < start + 10 for at, _ in timeline)
    ]
    return NOTES.format(
        sessions=result["sessions"], seconds=result["seconds"], warm_up_s=result["warm_up_s"], think=THINK_S,
        sample=SAMPLE_S, cpus=result["cpus"], load_before=result["load_average_before"],
        load_after=result["load_average_after"], server_table=markdown_table(server_rows(result)),
        by_process=", ".join(f"{name.split(' ', 1)[1]} {_mib(size)}"
                             for name, size in result["peak_memory_by_process"].items()),
        forks=result["forks_seen"], timeline=", ".join(map(str, per_10_s)), problems=problems, log=log,
        shutdown=shutdown,
    )  # fmt: skip


def _log_warnings(log: str) -> dict[str, int]:
    """Distinct warnings, errors and tracebacks of the server log (time stamps cut), with their counts.

    A traceback is kept as its last frame and its exception line.
    """
    counts: dict[str, int] = {}
    lines = re.sub(r"\x1b\[[0-9;]*m", "", log).splitlines()  # VTK colours its messages
    for number, line in enumerate(lines):
        if line.startswith("Traceback"):
            end = next((n for n in range(number + 1, len(lines)) if lines[n][:1] not in (" ", "")), len(lines) - 1)
            frame = next(
                (lines[n].strip() for n in range(end - 1, number, -1) if lines[n].strip().startswith("File ")), ""
            )
            text = f"Traceback: {frame} -> {lines[end].strip()}"
        elif any(word in line for word in ("WARNING", "ERROR", "WARN|")):
            text = line.split(" ", 2)[2] if line[:2] == "20" and line.count(" ") >= 2 else line.strip()
        else:
            continue
        counts[text] = counts.get(text, 0) + 1
    return counts


def run(*, out_dir="docs/bench", quick: bool = False, seconds: float | None = None) -> list[dict]:
    """Run :func:`load_test` for :data:`SECONDS` (:data:`QUICK_SECONDS` if ``quick``; ``seconds`` overrides).

    Writes ``app_load.md`` and ``app_load.json`` in ``out_dir``; returns the table's rows.
    """
    seconds = float(seconds if seconds is not None else QUICK_SECONDS if quick else SECONDS)
    result = load_test(seconds=seconds)
    rows = rows_of(result)
    extra = {key: value for key, value in result.items() if key != "tallies"}
    extra["latencies_s"] = {kind: [round(t, 3) for t in tally.latencies] for kind, tally in result["tallies"].items()}
    extra["quick"] = quick
    write_report("app_load", rows, out_dir, notes=_notes(result), extra=extra)
    return rows
