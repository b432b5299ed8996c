"""The U-Net's training task: options, simulated data, one training step, a tiny CLI run, and the shipped checkpoint."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from porelib import ct, registry, segmentation
from porelib.checkpoint import load_checkpoint, save_checkpoint
from porelib.cli import main
from porelib.metrics import dice
from porelib.models.unet3d import UNet3D, UNet3DConfig
from porelib.runfolder import epoch_rows, read_metrics
from porelib.tasks.unet import (
    TRAIN_SEEDS,
    VAL_SEEDS,
    RandomCrops,
    UNetDataConfig,
    UNetTask,
    training_scan,
    validation_scan,
)
from porelib.training import Progress, make_task

ROOT = Path(__file__).resolve().parent.parent

#: A run small enough for a test: 24³ scans, 16³ crops.
TINY_DATA = {"scan_size": 24, "train_scans": 2, "crop": 16, "crops_per_epoch": 2, "val_size": 16, "max_radius": 4.0}
TINY_FLAGS = [
    "--scan-size", "24", "--train-scans", "2", "--crop", "16", "--crops-per-epoch", "2", "--val-size", "16",
    "--max-radius", "4", "--batch-size", "2", "--threads", "1", "--no-progress",
]  # fmt: skip


pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"data": {"crop": 32, "scan_size": 24}}, "crop must be at least 8 and at most 24"),
        ({"data": {"max_radius": 48.0}}, "max_radius must be at least min_radius"),
        ({"data": {"min_fraction": 0.3, "max_fraction": 0.2}}, "max_fraction must be a finite number >= 0.3"),
        ({"data": {"val_scans": 0}}, "val_scans must be at least 1"),
        ({"step": {"cpu_precision": "float16"}}, "cpu_precision must be one of bfloat16, float32"),
        ({"step": {"dice_weight": 0.0, "bce_weight": 0.0}}, "cannot both be 0"),
        ({"model": {"in_channels": 2}}, "unknown model option"),  # set by the task, not the user
        ({"model": {"groups": 3}}, "groups .3. must divide"),
        ({"init": {"init_from": "nowhere"}}, "init_from must be a U-Net checkpoint folder"),
    ],
)
def test_invalid_options_are_refused_before_simulating(options, match):
    with pytest.raises(ValueError, match=match):
        make_task("unet", options)


def test_registered_and_refuses_a_dataset():
    assert registry.entry("unet").task == "porelib.tasks.unet:UNetTask"
    with pytest.raises(ValueError, match="simulates its scans and reads no dataset"):
        make_task("unet", data="data/")


def test_seed_ranges_are_disjoint_and_never_the_benchmark():
    assert not set(TRAIN_SEEDS) & set(VAL_SEEDS)
    for seeds in (TRAIN_SEEDS, VAL_SEEDS):
        assert seeds[0] >= ct.TRAINING_SEEDS[0] and seeds[-1] <= ct.TRAINING_SEEDS[-1] < ct.BENCHMARK_SEED_START


def test_scans_are_deterministic_and_cycle_through_contrasts_and_doses():
    config = UNetDataConfig(**TINY_DATA)
    first, again = training_scan(0, config), training_scan(0, config)
    assert np.array_equal(first.image, again.image) and np.array_equal(first.label, again.label)
    assert first.image.shape == (24, 24, 24) and first.label.dtype == bool
    settings = [(scan.contrast, dose) for scan, dose in (validation_scan(k, config) for k in range(6))]
    assert sorted(settings) == sorted((c, d) for c in ct.CONTRASTS for d in ct.DOSES)
    scan, dose = validation_scan(0, config)
    assert scan.dose == ct.DOSES[dose] and scan.image.shape == (16, 16, 16)
    assert config.min_fraction <= scan.label.mean() <= config.max_fraction + 0.05


def test_random_crops_cut_image_and_label_at_the_same_place():
    images = np.arange(2 * 10**3, dtype=np.float32).reshape(2, 10, 10, 10)
    labels = images.astype(int) % 3 == 0
    crops = RandomCrops(images, labels, crop=4, length=5)
    torch.manual_seed(0)
    assert len(crops) == 5
    for image, label in crops:
        assert image.shape == label.shape == (1, 4, 4, 4)
        assert torch.equal(label, (image.long() % 3 == 0).float())


@pytest.mark.parametrize(("input_contrast", "dark_inclusions"), [("any", True), ("bright", False)])
def test_training_inputs_follow_the_networks_input_contrast(input_contrast, dark_inclusions):
    # Scan 1 is dark (pores in a solid): a bright-input network sees it inverted, as at inference.
    model = {"input_contrast": input_contrast, "threshold_skip": 20.0 if input_contrast == "bright" else 0.0}
    task = UNetTask({"data": TINY_DATA, "model": model})
    images, labels = task._train_volumes
    assert training_scan(1, task.data_config).contrast == "dark"
    inside, outside = images[1][labels[1]].mean(), images[1][~labels[1]].mean()
    assert (inside < outside) == dark_inclusions


def test_training_step_transforms_image_and_label_alike():
    # An "identity" network: its loss is near zero only if image and label got the same symmetry.
    task = UNetTask({"data": TINY_DATA})
    label = torch.from_numpy(training_scan(0, task.data_config).label[:16, :16, :16]).float()[None, None]
    torch.manual_seed(1)
    loss, logged = task.training_step(lambda x: (x - 0.5) * 40, (label.clone(), label), Progress(0, 1, 0.0))
    assert loss.item() < 0.01 and logged["loss"] == pytest.approx(loss.item())


def test_tiny_training_run_through_the_cli_writes_a_usable_checkpoint(tmp_path, capsys):
    out = tmp_path / "unet"
    model_flags = ["--input-contrast", "bright", "--threshold-skip", "20"]  # as the shipped checkpoint
    assert main(["train", "unet", "--out", str(out), "--epochs", "1", *model_flags, *TINY_FLAGS]) == 0
    assert "trained unet for 1 epoch(s)" in capsys.readouterr().out
    card = json.loads((out / "card.json").read_text())
    assert card["task"] == "unet" and card["monitor"] == {"metric": "val_dice", "mode": "max"}
    assert card["data"]["train_seeds"] == [0, 1] and card["data"]["val_seeds"] == [9000, 9005]
    for metrics in (card["metrics"], card["baseline"]["otsu"]):
        assert {"dice", "iou", "dice_worst", "dice_high", "dice_default", "dice_low"} <= set(metrics)
    assert json.loads((out / "status.json").read_text())["state"] == "finished"
    model, _ = load_checkpoint(out)
    assert isinstance(model, UNet3D) and model.config.input_contrast == "bright" and model.config.threshold_skip == 20

    # Fine-tuning from it keeps its card; model options then come from the checkpoint only.
    with pytest.raises(ValueError, match="init_from takes the model options from its checkpoint"):
        make_task("unet", {"init": {"init_from": str(out)}, "model": {"groups": 2}})
    tuned = tmp_path / "tuned"
    assert main(["train", "unet", "--out", str(tuned), "--epochs", "1", "--init-from", str(out), *TINY_FLAGS]) == 0
    tuned_card = json.loads((tuned / "card.json").read_text())
    assert tuned_card["init"]["card"]["command"] == card["command"]
    assert tuned_card["config"] == card["config"]

    scan_path = ct.save_scan(tmp_path / "scan.npz", ct.simulate(16, radius_range=(2, 5), seed=3))
    assert (
        main(
            ["segment", str(scan_path), "--method", "unet", "--checkpoint", str(out), "--out", str(tmp_path / "m.npy")]
        )
        == 0
    )
    mask = np.load(tmp_path / "m.npy", allow_pickle=False)
    assert mask.shape == (16, 16, 16) and mask.dtype == bool


def test_a_fine_tune_takes_the_same_first_steps_here_as_in_a_fresh_process(tmp_path):
    # The seeds fix every step: whatever ran before in this process (a suite run), a 1-epoch run
    # and a 1-epoch fine-tune from it give the bytes of a fresh interpreter, weights and metrics alike.
    # oneDNN (torch.backends.mkldnn) is off in both processes: its CPU convolutions are not bitwise
    # reproducible from one process to another on some CPUs (the sums' order follows the buffers'
    # alignment), and the fine-tune's first AdamW step turns a last-bit difference of a near-zero
    # gradient into a weight change of up to ±lr (seen here: 2e-3 in encoders.3, 3 runs in 3).
    def commands(folder):
        first = ["train", "unet", "--out", str(folder / "unet"), "--epochs", "1", "--input-contrast", "bright",
                 "--threshold-skip", "20", *TINY_FLAGS]
        return [first, ["train", "unet", "--out", str(folder / "tuned"), "--epochs", "1",
                        "--init-from", str(folder / "unet"), *TINY_FLAGS]]

    onednn = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        for argv in commands(tmp_path / "here"):
            assert main(argv) == 0
    finally:
        torch.backends.mkldnn.enabled = onednn
    code = ("import json, sys, torch\nfrom porelib.cli import main\ntorch.backends.mkldnn.enabled = False\n"
            "for argv in json.loads(sys.argv[1]):\n    assert main(argv) == 0")
    fresh = subprocess.run([sys.executable, "-c", code, json.dumps(commands(tmp_path / "fresh"))], cwd=ROOT,
                           capture_output=True, text=True, timeout=600, check=False)
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    for run in ("unet", "tuned"):
        here, there = tmp_path / "here" / run, tmp_path / "fresh" / run
        assert (here / "model.safetensors").read_bytes() == (there / "model.safetensors").read_bytes(), run
        rows = [[{k: v for k, v in row.items() if k != "time_s"} for row in epoch_rows(read_metrics(folder))]
                for folder in (here, there)]  # per-step rows are written by the clock: left out
        assert rows[0] == rows[1] and all(math.isfinite(row["train_loss"]) for row in rows[0])


def test_fine_tuning_refuses_a_checkpoint_with_non_finite_weights(tmp_path, capsys):
    model = UNet3D(UNet3DConfig(channels=(4, 8), groups=2))
    with torch.no_grad():
        model.encoders[0][0].weight[0, 0, 1, 1, 1] = float("nan")
    folder = save_checkpoint(tmp_path / "diverged", model, card={"task": "unet"})
    match = r"init_from must hold finite weights; .*diverged has non-finite values in encoders.0.0.weight \(1 of 108"
    with pytest.raises(ValueError, match=match):
        make_task("unet", {"init": {"init_from": str(folder)}})
    assert main(["train", "unet", "--out", str(tmp_path / "tuned"), "--init-from", str(folder), *TINY_FLAGS]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: init_from must hold finite weights") and len(err.splitlines()) == 1
    assert not (tmp_path / "tuned").exists()


#: The issue's targets, checked per held-out scan: at least Otsu's Dice at every dose,
#: 0.97 at the default dose, Otsu's + 0.03 at the low dose.
MIN_DICE = {"high": 0.0, "default": 0.97, "low": 0.0}
MIN_MARGIN_OVER_OTSU = {"high": 0.0, "default": 0.0, "low": 0.03}


def test_shipped_checkpoint_beats_otsu_at_every_dose_on_held_out_scans():
    # Benchmark seed range (never trained on): one 64³ scan per contrast × dose, fixed seeds.
    # Measured at commit time (U-Net / Otsu): high 0.991/0.987 and 0.992/0.989,
    # default 0.986/0.966 and 0.987/0.974, low 0.975/0.898 and 0.984/0.945.
    model = segmentation.load_unet()
    settings = [(contrast, dose) for dose in ct.DOSES for contrast in ct.CONTRASTS]
    for k, (contrast, dose) in enumerate(settings):
        scan = ct.simulate(
            64, volume_fraction=0.25, contrast=contrast, dose=dose, seed=ct.BENCHMARK_SEED_START + 500 + k
        )
        fast = segmentation.unet_probability(scan.image, model) > 0.5  # bfloat16, as segment() runs it
        unet_dice = dice(fast, scan.label)
        otsu_dice = dice(segmentation.segment(scan.image, "otsu"), scan.label)
        required = max(MIN_DICE[dose], otsu_dice + MIN_MARGIN_OVER_OTSU[dose])
        assert unet_dice >= required, f"{contrast}, {dose}: U-Net {unet_dice:.4f}, Otsu {otsu_dice:.4f}"
    exact = segmentation.unet_probability(scan.image, model, precision="float32") > 0.5
    assert np.mean(fast != exact) < 1e-3
    assert np.array_equal(segmentation.segment(scan.image, "unet"), fast)
    with pytest.raises(ValueError, match="precision must be one of bfloat16, float32"):
        segmentation.unet_probability(scan.image, model, precision="float16")


def test_randomised_family_draws_scans_from_the_wider_simulator():
    from porelib.tasks.unet import UNetDataConfig, training_scan, validation_scan

    config = UNetDataConfig(family="randomised", scan_size=24, val_size=24, crop=16, max_radius=10.0)
    first, second = training_scan(0, config), training_scan(1, config)
    assert (first.contrast, second.contrast) == ("bright", "dark")
    expected = ct.random_scan("randomised", 24, 0, contrast="bright")
    assert np.array_equal(first.image, expected.image) and np.array_equal(first.label, expected.label)
    scan, dose = validation_scan(2, config)
    assert dose == "default" and scan.label.shape == (24, 24, 24)


def test_small_crops_step_in_float32_on_the_cpu():
    # oneDNN's bfloat16 convolutions gave NaN gradients now and then on 1-2 voxel coarse levels (the flaky NaN).
    from porelib.tasks.unet import BFLOAT16_MIN_COARSE_SIDE

    data = {"scan_size": 24, "train_scans": 2, "crop": 16, "val_size": 16, "max_radius": 4.0}
    task = UNetTask({"data": data})
    cpu = torch.device("cpu")
    multiple = UNet3D(task.model_config).multiple
    small, large = (torch.zeros(1, side, side, side) for side in (16, multiple * BFLOAT16_MIN_COARSE_SIDE))
    assert not task._bfloat16_step(small, cpu)
    assert task._bfloat16_step(large, cpu)
    float32 = UNetTask({"data": data, "step": {"cpu_precision": "float32"}})
    assert not float32._bfloat16_step(large, cpu)
