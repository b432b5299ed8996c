"""An anisotropic material from 2-D sections: three orthogonal sections against one (``python -m porelib bench material-sections``).

The material: PoreSpy blobs elongated along z (:func:`porelib.material.examples.anisotropic`,
features 1.5, 1.5 and 6 voxels). Its three sections normal to x, y and z (the convention of
:mod:`porelib.material.sample`: rows and columns are the other two axes in increasing order)
are the central slices of three **independent** realisations (seeds 1, 2, 3), so no held-out
pixel of one section lies in another section's training region. The material generator is
trained through the train command (``--minutes M``, one thread) on

* all three sections (``--input x --input-y y --input-z z``);
* the section normal to z alone (the xy-plane: the usual micrograph of a face; the isotropic
  assumption hides the elongation);
* the section normal to x alone (the yz-plane, which shows the elongation along its columns).

Every run's volumes (8 of 64³, at the three-section run's training porosity) are scored against
the **same** reference, the held-out strips of the three sections
(:class:`porelib.material.reference.SectionReference`: slices normal to ``a`` against the strip
of the section normal to ``a``; ``x:chords_z`` = chords along z of slices normal to x). Beside
them: 64³ cubes of a fourth, unseen realisation (``truth``: what the material itself scores,
about 1) and the level-cut Gaussian field of the three-section run (fitted to the three
sections, one correlation profile per axis). Direct anisotropy figures of the same volumes: the normalised
autocovariance ``(S2(r) − φ²)/(φ − φ²)`` at r = 4 along each axis, and the mean chord length
along each axis.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from porelib.bench._report import write_report

#: Training budget per run, in minutes (one thread).
MINUTES = 3.0
#: Sections' side, realisations' seeds (x, y, z sections; the unseen truth), volumes scored per run and their edge.
SIDE, SEEDS, TRUTH_SEED, SAMPLES, EDGE = 256, (1, 2, 3), 4, 8, 64
#: The lag of the autocovariance column, in voxels.
LAG = 4
#: Runs: name -> the sections given (x, y, z; None where not given).
RUNS = {"3 sections": ("x", "y", "z"), "z-section only": ("z",), "x-section only": ("x",)}


def _sections(side: int, folder: Path) -> dict[str, Path]:
    from porelib.material.examples import anisotropic

    files = {}
    for seed, name in zip(SEEDS, "xyz"):
        volume = anisotropic((side,) * 3, 0.4, seed=seed)
        middle = side // 2
        image = {"x": volume[middle], "y": volume[:, middle], "z": volume[:, :, middle]}[name]
        files[name] = folder / f"section-{name}.npy"
        np.save(files[name], image.astype(np.uint8))
    return files


def _train(inputs: list[Path], out: Path, minutes: float, quick: bool) -> float:
    from porelib.training import fit_flags, train_parser

    args = ["--input", str(inputs[0])]
    for flag, path in zip(("--input-y", "--input-z"), inputs[1:]):
        if path is not None:
            args += [flag, str(path)]
    args += ["--pore-value", "1", "--out", str(out), "--threads", "1", "--no-progress", "--seed", "0"]
    args += ["--epochs", "1", "--steps-per-epoch", "2", "--width", "8", "--patch", "40"] if quick else ["--minutes", str(minutes)]
    start = time.perf_counter()
    fit_flags("material", train_parser("material").parse_args(args),
              command=["python", "-m", "porelib", "train", "material", *args])  # fmt: skip
    return (time.perf_counter() - start) / 60


def _anisotropy(volumes: list[np.ndarray]) -> dict:
    from porelib.material.statistics import axis_two_point_correlation, volume_statistics

    phi = float(np.mean([v.mean() for v in volumes]))
    s2 = np.mean([axis_two_point_correlation(v, r_max=LAG) for v in volumes], axis=0)[:, LAG]
    chords = np.mean([volume_statistics(v).mean_chord_length() for v in volumes], axis=0)
    row = {f"autocov_r{LAG}_{a}": float((s2[k] - phi**2) / (phi - phi**2)) for k, a in enumerate("xyz")}
    row.update({f"chord_{a}": float(chords[k]) for k, a in enumerate("xyz")})
    return row


def run(*, out_dir="docs/bench", quick: bool = False, minutes: float = MINUTES, runs_dir=None) -> list[dict]:
    """Train the runs of :data:`RUNS`, score them and the references; write ``out_dir/material_sections.{md,json}``.

    Parameters
    ----------
    quick : bool
        128² sections, one-epoch tiny models, 32³ volumes, 2 per row: a smoke test.
    minutes : float
        Training budget per run.
    runs_dir : str or Path, optional
        Where the runs are written (default: a temporary folder).
    """
    import torch

    from porelib.material.examples import anisotropic
    from porelib.material.generate import generate_material
    from porelib.material.run import load_material_run
    from porelib.material.score import held_out_reference, judged

    side, samples, edge = (128, 2, 32) if quick else (SIDE, SAMPLES, EDGE)
    threads = torch.get_num_threads()
    rows = []
    with tempfile.TemporaryDirectory(prefix="porelib-sections-") as scratch:
        root = Path(runs_dir) if runs_dir is not None else Path(scratch)
        root.mkdir(parents=True, exist_ok=True)
        files = _sections(side, root)
        trained = {}
        for name, given in RUNS.items():
            out = root / f"run-{name.split()[0]}"
            inputs = [files[a] for a in given] if given[0] == "x" else [files[given[0]]]
            trained[name] = (_train(inputs, out, minutes, quick), load_material_run(out))
        torch.set_num_threads(threads)
        three = trained["3 sections"][1]
        reference = held_out_reference(three)
        porosity = three.split.porosity("train")
        truth = anisotropic((edge * 2,) * 3, 0.4, seed=TRUTH_SEED)
        cubes = [truth[i:i + edge, j:j + edge, k:k + edge] for i in (0, edge) for j in (0, edge) for k in (0, edge)]
        candidates = {"truth (unseen realisation)": (None, cubes[:samples])}
        for name, (train_minutes, material_run) in trained.items():
            candidates[name] = (train_minutes, [generate_material(material_run, edge, porosity, seed=k) for k in range(samples)])
        candidates["gaussian-field (3 sections)"] = (
            None, [generate_material(three, edge, porosity, seed=k, method="gaussian-field") for k in range(samples)])
        for name, (train_minutes, volumes) in candidates.items():
            scores = reference.score(volumes, seed=0, resamples=300 if quick else 2000)
            finite = {k: s.ratio for k, s in scores.items() if judged(k) and np.isfinite(s.ratio)}
            row = {"volumes": name, "train_minutes": train_minutes, **_anisotropy(volumes)}
            row.update({k: round(s.ratio, 2) for k, s in scores.items() if "s2_" in k or "chords_" in k or "perimeter" in k})
            worst = max(finite, key=finite.get)
            row.update({"worst_finite": f"{worst} {finite[worst]:.2f}",
                        "infinite": ", ".join(k for k, s in scores.items() if not np.isfinite(s.ratio)) or "–"})  # fmt: skip
            rows.append(row)
    notes = (
        f"Sections {side}² of PoreSpy blobs elongated along z (features 1.5, 1.5, 6 voxels), from independent "
        f"realisations; runs trained through the train command ({'a one-epoch tiny model' if quick else f'--minutes {minutes:g}'}, "
        f"one thread). Each row: {samples} volumes of {edge}³ scored against the held-out strips of all three sections "
        "(ratio to the strips' noise floor; `x:chords_z` = chords along z of the slices normal to x against the strip of "
        "the section normal to x). `truth`: cubes of an unseen realisation. autocov_r4_a: normalised autocovariance "
        "(S2(4) − φ²)/(φ − φ²) along axis a; chord_a: mean chord length along a (voxels). worst_finite: the highest "
        "finite judged ratio; infinite: statistics whose strips' noise floor is 0 (every member equal) that the "
        "volumes miss."
    )
    write_report("material_sections", rows, out_dir, notes=notes, extra={"quick": quick, "minutes": minutes})
    return rows
