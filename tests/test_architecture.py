"""The shape of the code: import contracts, thin pages, one list of models.

``lint-imports`` checks the contracts in ``.importlinter`` (no import cycles in any
porelib package; the library imports neither the CLI nor the benchmarks; benchmarks do
not call the CLI; porelib never imports streamlit). The pages are scripts, not a package,
so their rule (no page imports a benchmark or the CLI) is checked here from their source.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Modules a page (or app.py, studio.py) must never import.
FORBIDDEN_IN_PAGES = ("porelib.bench", "porelib.cli")


def _imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def test_import_contracts_hold():
    command = shutil.which("lint-imports")
    if command is None:
        pytest.fail("lint-imports is missing: pip install -r requirements-dev.txt (import-linter)")
    done = subprocess.run([command, "--config", str(ROOT / ".importlinter")], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env={"PYTHONPATH": str(ROOT), "PATH": str(Path(sys.executable).parent)})  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_pages_import_neither_benchmarks_nor_the_command_line():
    for path in [ROOT / "app.py", ROOT / "studio.py", *sorted((ROOT / "pages").glob("*.py"))]:
        bad = [m for m in _imported_modules(path) if m.startswith(FORBIDDEN_IN_PAGES)]
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}; move what it needs into the library"


def test_model_names_are_listed_only_by_the_registry():
    # A tuple or list naming two models side by side is a second list of models.
    pattern = re.compile(r"""["'](simulator|cvae|cgan|unet|img2vox)["']\s*,\s*["'](simulator|cvae|cgan|unet|img2vox)["']""")
    offenders = []
    for path in [*(ROOT / "porelib").rglob("*.py"), *(ROOT / "pages").glob("*.py"), ROOT / "app.py", ROOT / "studio.py"]:
        if path.name == "registry.py":
            continue
        offenders += [f"{path.relative_to(ROOT)}:{n}" for n, line in enumerate(path.read_text().splitlines(), 1)
                      if pattern.search(line)]  # fmt: skip
    assert not offenders, f"lists of models outside porelib/registry.py: {offenders}"
