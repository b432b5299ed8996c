"""Run a native parser in a child process with a memory limit, so that only the child can die.

Some parsers are native libraries that end the whole process on a malformed file
instead of raising (VTK throws ``std::bad_alloc`` and aborts on a header that claims
more memory than there is). :func:`run_isolated` hands such a file to a fresh Python
process (``python -m porelib.io.isolated``) whose address space is limited
(``RLIMIT_AS``, on POSIX systems) to its baseline plus a few times the size the file
declares; the child writes the arrays it read to a temporary ``.npz``, whose bytes the caller
reads back with porelib's own checked reader. A crash, a signal, an exhausted limit or a time-out
in the child becomes one ``ValueError`` naming the file; the calling process (the CLI, or
the app's server with every user's session) goes on.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from importlib import import_module
from pathlib import Path

import numpy as np

from porelib.io.inputs import InputFile

#: Seconds a child may run before it is killed.
TIMEOUT_S = 300
#: Address space the child may use beyond its start, on top of ``memory_bytes``
#: (the parser's own libraries and Python's allocations).
HEADROOM_BYTES = 1 << 30
#: The child may allocate this many times the declared size (copies while converting).
MEMORY_FACTOR = 4
#: Exit status of a child that raised a Python exception (its message is on stderr).
_EXIT_ERROR = 3
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


def run_isolated(target: str, file: InputFile, *, memory_bytes: int, what: str, timeout: float = TIMEOUT_S) -> bytes:
    """Call ``target(path)`` in a child process and return the arrays it read, as ``.npz`` bytes.

    Parameters
    ----------
    target : str
        ``"module:function"``; the function takes a file path and returns a dict of
        numpy arrays.
    file : InputFile
        The file; bytes in memory are written to a temporary file first.
    memory_bytes : int
        What the file declares; the child may use ``MEMORY_FACTOR`` times this plus
        ``HEADROOM_BYTES`` beyond its baseline.
    what : str
        The format, for messages (``".vti"``).

    Returns
    -------
    bytes
        An ``.npz`` archive of the arrays; read it with :func:`porelib.io.arrays.read_npz`
        (through :func:`porelib.io.inputs.open_input`, like any other file).

    Raises
    ------
    ValueError
        If the child raised, died (a signal, the memory limit) or timed out.
    """
    with tempfile.TemporaryDirectory(prefix="porelib-") as folder:
        path = file.path
        if path is None:
            path = Path(folder) / f"input{file.suffix}"
            path.write_bytes(file.data)
        out = Path(folder) / "arrays.npz"
        limit = MEMORY_FACTOR * int(memory_bytes) + HEADROOM_BYTES
        command = [sys.executable, "-m", "porelib.io.isolated", target, str(path), str(out), str(limit)]
        environment = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                       "PYTHONPATH": os.pathsep.join(filter(None, [_PACKAGE_ROOT, os.environ.get("PYTHONPATH")]))}
        try:
            done = subprocess.run(command, capture_output=True, timeout=timeout, env=environment, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise ValueError(f"could not read {file.label} as {what}: the reader took more than {timeout:g} s") from None
        if done.returncode == _EXIT_ERROR:
            reason = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise ValueError(f"could not read {file.label} as {what}: {reason[-1] if reason else 'unknown error'}")
        if done.returncode != 0:
            raise ValueError(
                f"could not read {file.label} as {what}: the reader stopped on it ({_describe_exit(done.returncode)}); "
                "the file is corrupt or needs more memory than its header declares"
            )
        return out.read_bytes()


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return signal.Signals(-code).name
        except ValueError:
            return f"signal {-code}"
    return f"exit status {code}"


def _limit_memory(limit: int) -> None:
    """Limit this process's address space to its current size plus ``limit`` bytes (POSIX)."""
    try:
        import resource
    except ImportError:  # not POSIX: no limit, the header checks still hold
        return
    with open("/proc/self/statm") if os.path.exists("/proc/self/statm") else open(os.devnull) as statm:
        fields = statm.read().split()
    current = int(fields[0]) * os.sysconf("SC_PAGE_SIZE") if fields else 0
    resource.setrlimit(resource.RLIMIT_AS, (current + limit, current + limit))


def _main(argv: list[str]) -> int:
    target, path, out, limit = argv
    _limit_memory(int(limit))
    module, _, name = target.partition(":")
    try:
        arrays = getattr(import_module(module), name)(path)
        np.savez(out, **arrays)
    except Exception as exc:  # noqa: BLE001 - reported to the parent as one line
        print(" ".join(str(exc).split()) or type(exc).__name__, file=sys.stderr)
        return _EXIT_ERROR
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
