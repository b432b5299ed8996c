"""Benchmarks: ``python -m porelib bench {speed,generators,segmentation,...}``.

Each benchmark module exposes ``run(*, out_dir, quick=False) -> list[dict]``;
rows are written as Markdown and JSON by :func:`porelib.bench._report.write_report`.
"""
