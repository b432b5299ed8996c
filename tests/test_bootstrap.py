"""Ratios to a noise floor with bootstrap intervals, on inputs whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from porelib import metrics
from porelib.bench.generators import distinctness, fidelity, held_out_ensemble, holds
from porelib.bootstrap import bootstrap_ratio, noise_floor_ratio


def test_ratio_of_constant_distances_is_exact_and_its_interval_degenerate():
    d = np.full((5, 6), 2.0)  # every candidate is 2 from every member
    e = np.ones((6, 6))  # members are 1 apart
    ratio, low, high = bootstrap_ratio(d, e, resamples=200, seed=0)
    assert ratio == pytest.approx(2.0) and low == pytest.approx(2.0) and high == pytest.approx(2.0)


def test_candidates_drawn_like_the_members_give_an_interval_around_one():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(128, 3))
    candidates, members = points[:64], points[64:]
    d = np.linalg.norm(candidates[:, None] - members[None], axis=-1)
    e = np.linalg.norm(members[:, None] - members[None], axis=-1)
    ratio, low, high = bootstrap_ratio(d, e, resamples=2000, seed=1)
    assert low < 1.0 < high and abs(ratio - 1) < 0.1 and high - low < 0.3


def test_more_samples_narrow_the_interval():
    rng = np.random.default_rng(2)

    def width(n):
        points = rng.normal(size=(2 * n, 2))
        d = np.linalg.norm(points[:n, None] - points[None, n:], axis=-1)
        e = np.linalg.norm(points[n:, None] - points[None, n:], axis=-1)
        _, low, high = bootstrap_ratio(d, e, resamples=1000, seed=3)
        return high - low

    assert width(64) < 0.6 * width(8)


def test_noise_floor_ratio_conventions():
    assert noise_floor_ratio(0.0, 0.0) == 1.0 and noise_floor_ratio(1.0, 0.0) == np.inf
    assert noise_floor_ratio(3.0, 2.0) == pytest.approx(1.5)


def test_a_zero_floor_is_replaced_by_the_stated_resolution():
    assert noise_floor_ratio(0.5, 0.0, resolution=2.0) == pytest.approx(0.25)
    assert noise_floor_ratio(0.5, 1.0, resolution=2.0) == pytest.approx(0.5)  # only zero floors
    d = np.stack([np.full((4, 5), 0.5), np.zeros((4, 5))])
    e = np.zeros((2, 5, 5))  # members all agree on both statistics
    ratio, low, high = bootstrap_ratio(d, e, resamples=200, seed=0, resolution=[1.0, 1.0])
    assert np.allclose(ratio, [0.5, 0.0]) and np.allclose(high, [0.5, 0.0])
    assert bootstrap_ratio(d, e, resamples=200, seed=0)[0][0] == np.inf  # without it: infinite


def test_one_voxel_more_than_a_one_voxel_reference_scores_at_most_one():
    from porelib.bench.generators import one_voxel_resolution

    resolution = one_voxel_resolution(12)
    assert resolution["pore_count"] == 1.0 and resolution["largest_cluster_fraction"] == 0.5
    assert all(value > 0 for value in resolution.values())
    reference = []
    for x, y, z in [(5, 5, 5), (6, 5, 5), (5, 6, 5), (6, 6, 6)]:  # one pore voxel, 5 deep: every statistic agrees
        grid = np.zeros((12, 12, 12), dtype=bool)
        grid[x, y, z] = True
        reference.append(metrics.summary(grid))
    pair = np.zeros((2, 12, 12, 12), dtype=bool)
    pair[0, 5, 5, 5:7] = True  # a 2-voxel pore
    pair[1, 5, 5, [4, 7]] = True  # two 1-voxel pores, one voxel shallower
    scores = fidelity(pair, reference, resamples=200)
    assert all(high <= 1.0 + 1e-9 for _, _, high in scores.values()), scores
    assert scores["pore_count"][0] == pytest.approx(0.5)


def test_the_simulator_holds_against_itself_and_random_voxels_do_not():
    reference = [metrics.summary(grid) for grid in held_out_ensemble(0.7, 24)]
    from porelib.synth import pore_grids

    same = fidelity(pore_grids(np.full(24, 0.7), seed=123), reference, resamples=500)
    for name, (ratio, low, high) in same.items():
        assert low <= ratio <= high and low < 1.3, (name, ratio, low, high)
    from porelib.bench.generators import bernoulli_grids

    random = fidelity(bernoulli_grids(0.7, 24, seed=4), reference, resamples=500)
    assert random["euler_per_voxel"][1] > 5 and random["s2"][1] > 2
    row = {f"{n}_{k}": v for n, values in same.items() for k, v in zip(("ratio", "low", "high"), values)}
    assert holds({**row, **{f"{n}_ratio": 1.0 for n in same}, **{f"{n}_high": 1.9 for n in same}})
    assert not holds({**row, **{f"{n}_high": 2.1 for n in same}})


def test_the_app_reads_the_benchmark_verdict_at_the_nearest_density(tmp_path):
    import json

    from porelib.app.state import generator_verdict

    rows = [{"density": 0.5, "generator": "cvae", "holds": True, "s2_ratio": 1.1, "s2_low": 0.9, "s2_high": 1.4},
            {"density": 0.6, "generator": "cvae", "holds": False, "s2_ratio": 2.2, "s2_low": 1.9, "s2_high": 2.6},
            {"density": "summary", "generator": "cvae"}]  # fmt: skip
    path = tmp_path / "generators.json"
    path.write_text(json.dumps({"rows": rows, "target": 1.5, "floor": 2.0}))
    held = generator_verdict("cvae", 0.52, path=path)
    assert held.holds and held.density == 0.5 and "holds" in held.text and "0.90–1.40" in held.text
    missed = generator_verdict("cvae", 0.63, path=path)
    assert not missed.holds and "not held" in missed.text and "s2 2.20×" in missed.text
    assert missed.text.endswith("No trained generator holds at this density; the simulator does.")
    rows.append({"density": 0.6, "generator": "cgan", "holds": True, "s2_ratio": 1.0, "s2_low": 0.9, "s2_high": 1.2})
    path.write_text(json.dumps({"rows": rows, "target": 1.5, "floor": 2.0}))
    assert generator_verdict("cvae", 0.63, path=path).text.endswith("At this density the cGAN holds.")
    rows.append({"density": 0.1, "generator": "cvae", "holds": True, "zero_floors": "s2, pore_count",
                 "s2_ratio": 1.0, "s2_low": 1.0, "s2_high": 1.0})
    path.write_text(json.dumps({"rows": rows, "target": 1.5, "floor": 2.0}))
    assert "one pore voxel" in generator_verdict("cvae", 0.1, path=path).text
    assert generator_verdict("simulator", 0.5, path=path) is None  # no row for it
    shipped = generator_verdict("cgan", 0.5)  # the default path: the repository's docs/bench/generators.json
    assert shipped is not None and shipped.density == 0.5
    assert generator_verdict("cvae", 0.5, path=tmp_path / "missing.json") is None


def test_bootstrap_median_brackets_the_median_and_is_exact_for_constants():
    from porelib.bootstrap import bootstrap_median

    assert bootstrap_median([0.4] * 5) == (0.4, 0.4, 0.4)
    median, low, high = bootstrap_median([0.5, 0.7, 0.6, 0.9, 0.55, 0.65, 2.0], seed=1)
    assert median == 0.65 and low <= median <= high and low >= 0.5 and high <= 2.0
    with pytest.raises(ValueError, match="at least one finite"):
        bootstrap_median([])


def test_bootstrap_mean_covers_the_mean_and_narrows_with_more_items():
    from porelib.bootstrap import bootstrap_mean

    rng = np.random.default_rng(0)
    few = rng.normal(0.9, 0.02, 8)
    mean, low, high = bootstrap_mean(few, resamples=1000, seed=1)
    assert mean == pytest.approx(few.mean()) and low < mean < high
    _, low_many, high_many = bootstrap_mean(rng.normal(0.9, 0.02, 200), resamples=1000, seed=1)
    assert high_many - low_many < (high - low) / 2
    with pytest.raises(ValueError, match="at least 2 finite values"):
        bootstrap_mean([0.5])


def test_distinctness_is_one_for_the_simulator_and_large_for_grids_that_repeat():
    reference = held_out_ensemble(0.5, 16)
    from porelib.synth import pore_grids

    others = pore_grids(np.full(16, 0.5), seed=99)
    assert 0.6 < distinctness(others, reference) < 1.6
    repeated = np.repeat(others[:2], 8, axis=0)  # two grids, eight times each
    assert distinctness(repeated, reference) > 5
    single = np.zeros((4, 12, 12, 12), bool)
    for k, grid in enumerate(single):
        grid[2 + 2 * k, 5, 5] = True  # one voxel each, never overlapping
    assert distinctness(single, single) is None
