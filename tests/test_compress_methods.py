"""SZ3, zfp and lzma as .pnc methods, the target searches, auto's choice, the comparisons and the benchmark."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from porelib import cli
from porelib import compress as pnc
from porelib.app.figures_compress import comparison_cards
from porelib.compress import errorbounded, sz3, zfp

SEED = 1_000_000  # the benchmark's scan


def smooth_volume(shape=(32, 28, 24)) -> np.ndarray:
    """A smooth float32 field with a few oscillations per axis."""
    x, y, z = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    return (np.sin(3 * x) * np.cos(2 * y) + 0.5 * z**2 + 0.3 * np.sin(4 * x * z)).astype(np.float32)


def ball_grid(size=24, radius=7.0) -> np.ndarray:
    """One ball of pores in the middle of a cubic grid."""
    r = np.arange(size) - (size - 1) / 2
    x, y, z = np.meshgrid(r, r, r, indexing="ij")
    return x**2 + y**2 + z**2 <= radius**2


@pytest.fixture(scope="module")
def ct_scan():
    """The benchmark's scan at 32³ without photon noise (glass spheres: sharp edges)."""
    return pnc.simulated_scan(32, seed=SEED)[1]


# ----------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("method", ["sz3", "zfp"])
@pytest.mark.parametrize("ratio", [8, 30])
def test_error_bounded_methods_meet_a_ratio(method, ratio):
    volume = smooth_volume()
    compressed = pnc.compress(volume, method=method, ratio=ratio)
    assert compressed.method == method and compressed.ratio >= ratio
    again = pnc.from_bytes(compressed.data)
    assert again.method == method and again.version == 2
    decoded = pnc.decompress(compressed.data)
    assert decoded.dtype == np.float32 and decoded.shape == volume.shape
    assert volume.min() <= decoded.min() and decoded.max() <= volume.max()  # clipped to the stored range
    assert pnc.psnr(volume, decoded) > 20


@pytest.mark.parametrize("method", ["sz3", "zfp"])
@pytest.mark.parametrize("abs_error", [1e-3, 0.05])
def test_an_error_bound_holds_for_every_voxel(method, abs_error):
    volume = smooth_volume()
    decoded = pnc.decompress(pnc.compress(volume, method=method, abs_error=abs_error))
    assert np.max(np.abs(decoded.astype(np.float64) - volume)) <= abs_error * (1 + 1e-6)


@pytest.mark.parametrize("method", ["sz3", "zfp"])
def test_a_psnr_target_is_kept(method, ct_scan):
    compressed = pnc.compress(ct_scan, method=method, psnr=35)
    assert pnc.psnr(ct_scan, pnc.decompress(compressed)) >= 35
    assert compressed.ratio > pnc.compress(ct_scan, method="lzma").ratio  # and it is lossy, so smaller


def test_lzma_is_exact_and_keeps_the_dtype():
    volume = np.round(smooth_volume() * 1000 + 2000).astype(np.uint16)
    compressed = pnc.compress(volume, method="lzma")
    decoded = pnc.decompress(compressed.data)
    assert decoded.dtype == np.uint16 and np.array_equal(decoded, volume)
    grid = ball_grid()
    assert np.array_equal(pnc.decompress(pnc.compress(grid, method="lzma").data), grid)
    with pytest.raises(ValueError, match=r"lzma is lossless and reaches only .* short of the ratio 50"):
        pnc.compress(volume, method="lzma", ratio=50)


@pytest.mark.parametrize("method", ["sz3", "zfp"])
def test_grids_go_through_their_signed_distance(method):
    """An error below 1 voxel gives a grid back exactly; a ratio gives a close grid."""
    grid = ball_grid()
    exact = pnc.compress(grid, method=method, abs_error=0.9)
    assert np.array_equal(pnc.decompress(exact), grid)
    lossy = pnc.compress(grid, method=method, ratio=2)
    decoded = pnc.decompress(lossy)
    assert decoded.dtype == bool and lossy.ratio >= 2
    assert pnc.quality(grid, decoded, kind="binary")["iou"] > 0.8
    with pytest.raises(ValueError, match="psnr applies to scans"):
        pnc.compress(grid, method=method, psnr=30)


def test_signed_distance_is_negative_in_the_pores():
    grid = ball_grid(12, 3.0)
    distance = errorbounded.signed_distance(grid)
    assert np.all(distance[grid] <= -1) and np.all(distance[~grid] >= 1)
    assert np.abs(distance).max() <= errorbounded.SDF_TRUNCATION
    assert np.all(errorbounded.signed_distance(np.zeros((4, 4, 4), bool)) == errorbounded.SDF_TRUNCATION)


@pytest.mark.parametrize("method", ["sz3", "zfp"])
def test_the_standard_stream_opens_in_the_method_own_library(method, tmp_path):
    """The .sz3/.zfp download is the library's own stream: pysz/zfpy decode it to the same values."""
    volume = smooth_volume()
    compressed = pnc.compress(volume, method=method, abs_error=0.01)
    path = pnc.save_standard_stream(tmp_path / f"v.{method}", compressed)
    data = path.read_bytes()
    if method == "sz3":
        from pysz import sz

        values, _ = sz.decompress(np.frombuffer(data, dtype=np.uint8), np.float32, volume.shape)
    else:
        import zfpy

        values = zfpy.decompress_numpy(data)
    assert values.shape == volume.shape
    np.testing.assert_allclose(np.clip(values, volume.min(), volume.max()), pnc.decompress(compressed))
    with pytest.raises(ValueError, match="has no stream other tools open"):
        pnc.save_standard_stream(tmp_path / "x", pnc.compress(volume, method="lzma"))


def test_zfp_stays_above_the_rate_that_corrupts_memory():
    """zfpy 1.0.1 writes past its buffer below 9 bits per 4³ block: such rates are refused, not run."""
    with pytest.raises(ValueError, match="rate must be at least"):
        zfp.code_rate(smooth_volume(), 1 / 64)
    with pytest.raises(ValueError, match="too high for zfp"):
        pnc.compress(smooth_volume(), method="zfp", ratio=300)  # needs fewer than 10 bits per block


# ----------------------------------------------------------------------------- target searches


def test_the_ratio_search_finds_the_finest_bound_that_fits():
    """On a code whose size falls with the bound, the bisection ends next to the boundary."""

    def code(bound: float) -> bytes:
        return bytes(int(1000 / bound))

    bound, stream = errorbounded.finest_within(code, 100, (1e-3, 1e3))
    assert len(stream) <= 100 and bound == pytest.approx(1000 / 101, rel=1e-3)  # int(1000 / b) <= 100 from there
    assert errorbounded.finest_within(code, 0.5, (1e-3, 1e3)) is None  # even the coarsest is too large


def test_the_psnr_search_keeps_the_psnr_with_the_coarsest_bound(ct_scan):
    values = errorbounded.float_values(ct_scan, "scan")
    value_range = (float(ct_scan.min()), float(ct_scan.max()))
    found = errorbounded.coarsest_keeping(
        lambda bound: sz3.code(values, bound), lambda s: sz3.decode_stream(s, ct_scan.shape), ct_scan, 40.0,
        errorbounded.error_range(values, "scan"), value_range=value_range,
    )
    bound, _, reached = found
    assert reached >= 40.0
    coarser = errorbounded.from_float(sz3.decode_stream(sz3.code(values, bound * 1.5), ct_scan.shape), "scan",
                                      value_range)
    assert pnc.psnr(ct_scan, coarser) < reached  # a coarser bound loses PSNR


@pytest.mark.parametrize(
    ("method", "targets", "kind", "match"),
    [
        ("sz3", {}, "scan", "needs a target"),
        ("sz3", {"ratio": 10, "psnr": 30}, "scan", "only method 'auto' takes ratio and psnr together"),
        ("auto", {"ratio": 10, "abs_error": 0.1}, "scan", "give one target"),
        ("neural", {"psnr": 30}, "scan", "takes only ratio"),
        ("sz3", {"abs_error": 0}, "scan", "abs_error must be positive"),
        ("sz3", {"psnr": -3}, "scan", "psnr must be"),
        ("sz3", {"psnr": 30}, "binary", "psnr applies to scans"),
        ("auto", {"ratio": 0.5}, "scan", "ratio must be greater than 1"),
    ],
)
def test_bad_targets_are_named(method, targets, kind, match):
    with pytest.raises(ValueError, match=match):
        pnc.check_target(targets.get("ratio"), targets.get("abs_error"), targets.get("psnr"), kind=kind, method=method)


@pytest.mark.parametrize("method", ["auto", "sz3", "zfp", "lzma"])
@pytest.mark.parametrize(
    ("volume", "match"),
    [
        (np.full((8, 8, 8), np.nan, np.float32), "NaN or infinite"),
        (np.full((8, 8, 8), -np.inf, np.float32), "NaN or infinite"),
        (np.zeros((0, 8, 8), np.float32), "at least 2 voxels"),
        (np.zeros((8, 8), np.float32), "volume must be 3-D"),
        (np.zeros((2, 8, 8, 8), np.float32), "volume must be 3-D"),
    ],
)
def test_every_method_refuses_a_bad_volume(method, volume, match):
    with pytest.raises(ValueError, match=match):
        pnc.compress(volume, method=method, ratio=4)


def test_a_volume_beyond_the_decoding_limit_is_refused_before_any_work():
    huge = np.broadcast_to(np.zeros(1, np.float32), (513, 512, 512))  # a view: nothing allocated
    with pytest.raises(ValueError, match=r"more than the .* \(512³\) compressed here"):
        pnc.compress(huge, method="sz3", ratio=10)


def test_a_method_name_is_checked():
    with pytest.raises(ValueError, match="method must be one of auto, neural, sz3, zfp, lzma"):
        pnc.compress(smooth_volume(), method="jpeg", ratio=4)


@pytest.mark.parametrize("method", ["sz3", "zfp", "lzma"])
def test_truncated_or_damaged_codes_of_every_method_are_refused(method):
    compressed = pnc.compress(smooth_volume(), method=method, **({} if method == "lzma" else {"ratio": 8}))
    data = compressed.data
    with pytest.raises(ValueError, match="truncated"):
        pnc.decompress(data[: len(data) // 2])
    body = bytearray(data[:-4])
    body[47:55] = bytes(8)  # the first bytes of the stream, with a checksum that matches again
    damaged = bytes(body) + pnc.container._CRC.pack(pnc.container.zlib.crc32(bytes(body)))
    with pytest.raises(ValueError, match="invalid compressed volume"):
        pnc.decompress(damaged)


# ----------------------------------------------------------------------------- auto


def test_auto_keeps_a_grid_exactly_when_lossless_meets_the_ratio():
    grid = ball_grid()  # one ball: lzma codes it at about 10:1
    choice = pnc.choose(grid, "binary", pnc.Target(ratio=3))
    assert choice.method == "lzma" and choice.compressed.ratio >= 3
    assert "lossless reaches" in choice.reason and [c.method for c in choice.candidates] == ["lzma"]
    assert np.array_equal(pnc.decompress(choice.compressed), grid)


def test_auto_takes_sz3_at_a_low_ratio_on_a_scan_without_fitting(ct_scan):
    compressed = pnc.compress(ct_scan, ratio=10)
    assert compressed.method == "sz3"
    notes = {c["method"]: c["note"] for c in compressed.info["candidates"]}
    assert "not tried below 50:1" in notes["neural"]
    assert "the best PSNR at 10:1" in compressed.info["reason"]


def test_auto_fits_the_neural_field_where_only_it_does_well(ct_scan):
    """The benchmark scan at 100:1 (32³, 300 steps): the neural field 28.6 dB, SZ3 24.7, zfp 16.6 (measured)."""
    compressed = pnc.compress(ct_scan, ratio=100, steps=300, seed=0)
    assert compressed.method == "neural" and compressed.ratio >= 100
    scores = {c["method"]: c.get("psnr") for c in compressed.info["candidates"]}
    assert scores["neural"] > scores["sz3"] + 2 > scores["zfp"] + 2
    assert "sz3 24.71 dB" in compressed.info["reason"]


def test_auto_does_not_fit_when_sz3_keeps_the_psnr_asked(ct_scan):
    compressed = pnc.compress(ct_scan, ratio=100, psnr=20, steps=300)
    assert compressed.method == "sz3" and "not needed" in compressed.info["reason"]
    assert "neural" not in [c["method"] for c in compressed.info["candidates"]]


def test_auto_fits_when_neither_classical_code_keeps_the_psnr(ct_scan):
    compressed = pnc.compress(ct_scan, ratio=100, psnr=28, steps=300, seed=0)
    assert compressed.method == "neural" and "it keeps PSNR >= 28 dB" in compressed.info["reason"]
    missed = pnc.compress(ct_scan, ratio=100, psnr=60, steps=100, seed=0)
    assert "comes closest to PSNR >= 60 dB" in missed.info["reason"]


def test_auto_skips_the_fit_that_does_not_fit_in_the_time(ct_scan):
    compressed = pnc.compress(ct_scan, ratio=100, steps=300, max_seconds=0.2)
    assert compressed.method in ("sz3", "zfp")
    notes = {c["method"]: c["note"] for c in compressed.info["candidates"]}
    assert "were left of the time allowed" in notes["neural"]


def test_auto_with_an_error_target_takes_the_smallest_file(ct_scan):
    choice = pnc.choose(ct_scan, "scan", pnc.Target(psnr=40))
    sizes = {c.method: c.compressed.nbytes for c in choice.candidates if c.compressed is not None}
    assert set(sizes) == {"sz3", "zfp"} and choice.compressed.nbytes == min(sizes.values())
    assert "has no error bound" in choice.reason


def test_auto_says_why_nothing_reached_the_target():
    with pytest.raises(ValueError, match=r"no method reached ratio 60:1: lzma skipped: .*neural skipped: ratio 60"):
        pnc.compress(ball_grid(16, 4), ratio=60)


# ----------------------------------------------------------------------------- comparisons and rate-distortion


def test_compare_methods_sets_a_code_beside_the_others():
    grid = ball_grid()
    compressed = pnc.compress(grid, method="neural", ratio=2, steps=150, batch_size=2048, seed=0)
    result = pnc.compare_methods(grid, compressed.data, target=2)
    assert [row["method"] for row in result.rows] == ["neural", "sz3", "zfp", "lzma", "dct"]
    np.testing.assert_array_equal(result.decoded, pnc.decompress(compressed))
    neural_row, lossless = result.row("neural"), result.row("lzma")
    assert neural_row["bytes"] == compressed.nbytes and neural_row["iou"] == pnc.quality(grid, result.decoded,
                                                                                          kind="binary")["iou"]
    assert lossless["iou"] == 1.0 and lossless["bytes"] == len(pnc.compress(grid, method="lzma").data)
    assert all(row["bytes"] <= 1728 / 2 for row in result.rows if row["method"] not in ("lzma", "neural"))
    cards = {card.label: card for card in comparison_cards(result)}
    assert list(cards) == ["Compression ratio", "File size (bytes)", "IoU", "Dice", "Encode time (s)"]
    assert cards["File size (bytes)"].baseline == f"raw 1,728; lossless lzma {lossless['bytes']:,}"
    assert cards["IoU"].baseline.startswith("sz3 at ")
    assert list(result.table().columns) == ["method", "bytes", "ratio", "iou", "dice", "encode_s", "decode_s",
                                            "setting", "note"]
    with pytest.raises(ValueError, match="shape"):
        pnc.compare_methods(grid[:10], compressed, target=2)


def test_the_noisy_scan_is_scored_against_its_twin():
    from porelib import ct

    image, clean = pnc.simulated_scan(24, seed=3, dose="low")
    np.testing.assert_array_equal(image, ct.simulate(24, dose="low", seed=3).image)
    high, twin = pnc.simulated_scan(24, seed=3, dose="high")
    np.testing.assert_array_equal(clean, twin)  # the twin does not depend on the dose
    assert pnc.psnr(clean, high) > pnc.psnr(clean, image)  # less noise, closer to the twin
    compressed = pnc.compress(image, method="sz3", ratio=20)
    result = pnc.compare_methods(image, compressed, noise_free=clean, methods=("lzma",))
    card = next(card for card in comparison_cards(result) if card.label == "PSNR vs noise-free (dB)")
    assert card.value == f"{pnc.psnr(clean, result.decoded):.2f}"
    assert card.baseline == f"the noisy input: {pnc.psnr(clean, image):.2f}"
    assert {"psnr_vs_noise_free", "ssim"} <= set(result.table().columns)


def test_rate_distortion_has_a_row_for_every_method_and_ratio():
    volume = smooth_volume((24, 24, 24))
    rows = pnc.rate_distortion(volume, ratios=(10, 100, 2000), methods=("sz3", "zfp", "lzma", "dct"))
    assert [(r["method"], r["target"]) for r in rows[:4]] == [("lzma", None), ("sz3", 10), ("zfp", 10), ("dct", 10)]
    assert len(rows) == 1 + 3 * 3
    unreachable = [r for r in rows if r["bytes"] is None]
    assert {(r["method"], r["target"]) for r in unreachable} >= {("zfp", 2000), ("sz3", 2000)}
    assert all(r["note"] for r in unreachable)
    best = pnc.best_by_ratio(rows, score="psnr")
    assert list(best) == [10, 100] and best[10]["psnr"] == max(r["psnr"] for r in rows if r["target"] == 10
                                                               and r["psnr"] is not None)
    assert pnc.curve_ratios((30, 30, 30), "binary") == (2, 3, 4, 6, 10, 25, 50)
    assert pnc.curve_ratios((128, 128, 128), "scan")[0] == 10


def test_the_pareto_front_keeps_what_nothing_beats():
    def row(method, target, psnr, seconds):
        return {"method": method, "target": target, "bytes": 10, "psnr": psnr, "encode_cpu_s": seconds}

    rows = [row("sz3", 100, 31.0, 0.1), row("zfp", 100, 20.0, 0.01), row("dct", 100, 30.0, 5.0),
            row("neural", 100, 34.0, 8.0), row("sz3", 10, 50.0, 0.1), row("neural", 10, 40.0, 9.0)]
    front = {(r["method"], r["target"]) for r in pnc.pareto_front(rows, score="psnr")}
    assert front == {("sz3", 100), ("zfp", 100), ("neural", 100), ("sz3", 10)}


def test_the_benchmark_runs_every_method_and_writes_table_and_plot(tmp_path):
    from porelib.bench import compression as bench

    rows = bench.run(out_dir=tmp_path, quick=True)
    measured = {row["method"] for row in rows if row["bytes"] is not None}
    assert measured >= {"sz3", "zfp", "dct", "neural", "lzma", "auto"}
    report = (tmp_path / "compression.md").read_text()
    assert "Pareto front" in report and "![rate-distortion" in report
    assert (tmp_path / "compression.png").stat().st_size > 10_000
    assert json.loads((tmp_path / "compression.json").read_text())["quick"] is True


# ----------------------------------------------------------------------------- command line


def test_cli_auto_says_why_and_writes_the_stream(tmp_path, capsys):
    np.save(tmp_path / "v.npy", smooth_volume())
    status = cli.main(["compress", str(tmp_path / "v.npy"), "--ratio", "10", "--out", str(tmp_path / "v.pnc"),
                       "--stream", str(tmp_path / "v.sz3")])
    out = capsys.readouterr().out
    assert status == 0 and out.startswith("auto chose sz3: the best PSNR at 10:1")
    assert (tmp_path / "v.sz3").read_bytes()[:4] == sz3.SZ3_MAGIC
    assert cli.main(["decompress", str(tmp_path / "v.pnc"), "--out", str(tmp_path / "back.npy")]) == 0
    assert "sz3 code" in capsys.readouterr().out
    back = np.load(tmp_path / "back.npy")
    assert back.shape == (32, 28, 24) and math.isfinite(pnc.psnr(smooth_volume(), back))


@pytest.mark.parametrize(("flags", "shown"), [(["--method", "zfp", "--abs-error", "0.01"], "(zfp)"),
                                              (["--method", "sz3", "--psnr", "45"], "(sz3)"),
                                              (["--method", "lzma"], "(lzma)")])
def test_cli_compresses_with_every_target(tmp_path, capsys, flags, shown):
    np.save(tmp_path / "v.npy", smooth_volume())
    assert cli.main(["compress", str(tmp_path / "v.npy"), *flags, "--out", str(tmp_path / "v.pnc")]) == 0
    assert shown in capsys.readouterr().out
