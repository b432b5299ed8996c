"""The part generator: watertight, deterministic, balanced over the families, with JSON-ready parameters."""

from __future__ import annotations

import json

import numpy as np
import pytest

from porelib.io.mesh import read_stl_surface
from porelib.parts.generator import (
    FAMILIES,
    ROTATIONS,
    SPLITS,
    make_part,
    part_family,
    save_part,
)

#: Two parts of every family (seeds 0-31 cycle through the families twice).
SEEDS = range(2 * len(FAMILIES))
#: The families added for issue 21 (thin tubes, wheels, revolved bodies, prisms, forks, hulls).
NEW_FAMILIES = ("fitting", "wheel", "knob", "fastener", "fork", "wedge")


def _edge_counts(faces: np.ndarray) -> np.ndarray:
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    return np.unique(edges, axis=0, return_counts=True)[1]


@pytest.mark.parametrize("seed", SEEDS)
def test_every_family_gives_a_closed_outward_surface(seed):
    part = make_part(seed)
    assert part.family == FAMILIES[seed % len(FAMILIES)]
    # Closed and manifold: every edge borders exactly two triangles.
    assert np.all(_edge_counts(part.faces) == 2)
    # Outward (counter-clockwise) triangles give a positive volume, inside the bounding box's.
    assert 0 < part.volume < np.prod(part.extent)
    # The bounding box is centred at the origin.
    np.testing.assert_allclose(part.vertices.min(axis=0) + part.vertices.max(axis=0), 0, atol=1e-9)


@pytest.mark.parametrize("family", NEW_FAMILIES)
def test_the_new_families_are_watertight_and_deterministic_over_their_kinds(family):
    # 12 seeds a family reach most of its kinds (elbow, tee, reducer...; handwheel, pulley...).
    kinds = set()
    for seed in range(12):
        part = make_part(seed, family=family)
        assert np.all(_edge_counts(part.faces) == 2), (family, seed)
        assert 0 < part.volume < np.prod(part.extent)
        # Nothing thinner than the generator's thinnest wall along the bounding box.
        assert part.extent.min() >= 0.05 * part.extent.max() - 1e-6
        kinds.add(part.params["kind"])
        assert json.loads(json.dumps(part.params)) == part.params
    assert len(kinds) >= 3
    again = make_part(7, family=family)
    first = make_part(7, family=family)
    np.testing.assert_array_equal(again.vertices, first.vertices)
    np.testing.assert_array_equal(again.faces, first.faces)
    assert again.params == first.params


def test_the_same_seed_gives_the_same_part_and_another_seed_another():
    a, b, c = make_part(123), make_part(123), make_part(123 + len(FAMILIES))
    assert a.family == c.family
    np.testing.assert_array_equal(a.vertices, b.vertices)
    np.testing.assert_array_equal(a.faces, b.faces)
    assert a.params == b.params
    assert a.params != c.params


def test_families_cycle_with_the_seed_and_splits_do_not_overlap():
    assert [part_family(s) for s in range(len(FAMILIES))] == list(FAMILIES)
    assert len(FAMILIES) == len(set(FAMILIES)) == 16 and set(NEW_FAMILIES) <= set(FAMILIES)
    assert part_family(SPLITS["test"].start + 3) == FAMILIES[(SPLITS["test"].start + 3) % len(FAMILIES)]
    ranges = sorted(SPLITS.values(), key=lambda r: r.start)
    assert all(a.stop <= b.start for a, b in zip(ranges, ranges[1:]))


def test_the_24_rotations_of_the_cube():
    assert ROTATIONS.shape == (24, 3, 3)
    assert len({r.tobytes() for r in ROTATIONS}) == 24
    np.testing.assert_array_equal(np.round(np.linalg.det(ROTATIONS)), 1)
    np.testing.assert_array_equal(ROTATIONS[0], np.eye(3))
    assert all(r[2, 2] == 1 for r in ROTATIONS[:4])  # the first four turn about z only


def test_a_forced_family_and_the_parameters_are_recorded():
    part = make_part(5, family="flange")
    assert part.family == "flange" and {"radius", "bore", "rotation", "pose"} <= set(part.params)
    assert json.loads(json.dumps(part.params)) == part.params


def test_save_part_writes_a_watertight_stl_and_its_parameters(tmp_path):
    part = make_part(8)
    stl, info = save_part(part, tmp_path / "part.stl")
    vertices, faces = read_stl_surface(stl)
    assert len(faces) == len(part.faces)
    assert np.all(_edge_counts(faces) == 2)
    np.testing.assert_allclose(vertices.min(axis=0), part.vertices.min(axis=0), atol=1e-4)
    saved = json.loads(info.read_text())
    assert saved["seed"] == 8 and saved["family"] == part.family and saved["params"] == part.params


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"seed": -1}, ValueError, "seed must be at least 0"),
        ({"seed": 1.5}, TypeError, "seed must be a non-negative integer"),
        ({"seed": True}, TypeError, "seed must be a non-negative integer"),
        ({"seed": 1, "family": "gear"}, ValueError, "family must be one of plate"),
    ],
)
def test_bad_arguments_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_part(**kwargs)


def test_save_part_needs_an_stl_name(tmp_path):
    with pytest.raises(ValueError, match=r"path must end in \.stl"):
        save_part(make_part(0), tmp_path / "part.obj")
