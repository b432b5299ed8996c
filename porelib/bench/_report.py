"""Write a benchmark's rows as a Markdown table and a JSON file."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path


def format_value(value) -> str:
    """Format one table cell: floats to 4 significant digits, None as a dash."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def markdown_table(rows: list[dict]) -> str:
    """Return ``rows`` (dicts sharing keys) as a GitHub-flavoured Markdown table."""
    if not rows:
        return "(no rows)\n"
    columns = list(dict.fromkeys(key for row in rows for key in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(format_value(row.get(c)) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def write_report(name: str, rows: list[dict], out_dir: str | Path, *, notes: str = "", extra: dict | None = None) -> Path:
    """Write ``out_dir/name.md`` and ``out_dir/name.json``; return the JSON path.

    The JSON holds ``rows``, the machine, the date and any ``extra`` values.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = {
        "benchmark": name,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, python {platform.python_version()}",
    }
    json_path = out_dir / f"{name}.json"
    json_path.write_text(json.dumps({**meta, **(extra or {}), "rows": rows}, indent=2) + "\n")
    header = f"# Benchmark: {name}\n\n{meta['date']} on {meta['machine']}\n\n"
    (out_dir / f"{name}.md").write_text(header + (notes + "\n\n" if notes else "") + markdown_table(rows))
    return json_path
