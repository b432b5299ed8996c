"""Every loss the training engine uses is finite, and so are its gradients, for every valid batch.

Property tests (hypothesis, fixed examples: ``derandomize=True``) of each task's
:meth:`~porelib.training.Task.training_step` as the engine runs it (each group's loss
back-propagated into that group's parameters only), and of the loss functions on their
own at extreme inputs. The batches include all-empty and all-full grids and labels,
constant scans, batches of one, densities 0 and 1; the U-Net runs from random weights,
from a checkpoint one epoch old and from the shipped checkpoint, in bfloat16 and float32.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from porelib.checkpoint import load_checkpoint
from porelib.data import build_dataset
from porelib.losses import (
    GAN_LOSSES,
    CVAELossConfig,
    GANLossConfig,
    cvae_loss,
    gan_losses,
)
from porelib.models.unet3d import UNet3D, UNet3DConfig, dice_bce_loss
from porelib.tasks.img2vox import section_bce
from porelib.tasks.unet import UNetTask
from porelib.training import Progress, TrainConfig, fit, make_task, nonfinite_tensors

pytestmark = pytest.mark.usefixtures("single_thread")

#: Examples per property: model steps are slower than the loss functions alone.
STEP_EXAMPLES, LOSS_EXAMPLES = 25, 60
SIZE = 12  # edge of the tiny dataset's grids
UNET_DATA = {"scan_size": 24, "train_scans": 2, "crop": 16, "crops_per_epoch": 2, "val_size": 16, "max_radius": 4.0}


def _settings(examples: int):
    return settings(max_examples=examples, deadline=None, database=None, derandomize=True)


# ----------------------------------------------------------------------------- strategies


@st.composite
def grid_batches(draw, size: int = SIZE):
    """``(grids (N, S, S, S) uint8, densities (N,) float32)``: empty, full or random grids, N in 1..3."""
    n = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    grids = []
    for _ in range(n):
        kind = draw(st.sampled_from(["empty", "full", "random"]))
        fraction = {"empty": 0.0, "full": 1.0}.get(kind) or draw(st.floats(0.001, 0.999))
        grids.append(rng.random((size,) * 3) < fraction)
    densities = [draw(st.sampled_from([0.0, 1.0]) | st.floats(0.0, 1.0)) for _ in range(n)]
    return torch.from_numpy(np.stack(grids).astype(np.uint8)), torch.tensor(densities, dtype=torch.float32)


@st.composite
def scan_batches(draw):
    """``(images (N, 1, c, c, c) in [0, 1], labels 0/1)``: constant, noisy or two-level scans; empty, full or matching labels."""
    n, crop = draw(st.integers(1, 2)), draw(st.sampled_from([8, 12, 16]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    shape = (n, 1) + (crop,) * 3
    kind = draw(st.sampled_from(["constant", "noise", "two-level"]))
    if kind == "constant":
        images = np.full(shape, draw(st.sampled_from([0.0, 1.0]) | st.floats(0.0, 1.0)))
    elif kind == "noise":
        images = rng.random(shape)
    else:
        images = np.clip(np.where(rng.random(shape) < draw(st.floats(0.0, 1.0)), 0.8, 0.2) + 0.1 * rng.normal(size=shape), 0, 1)
    label = draw(st.sampled_from(["empty", "full", "threshold"]))
    labels = {"empty": np.zeros(shape), "full": np.ones(shape)}.get(label, images > 0.5)
    return torch.from_numpy(images.astype(np.float32)), torch.from_numpy(labels.astype(np.float32))


def _progress(draw_fraction: float, step: int) -> Progress:
    return Progress(int(draw_fraction), 20, draw_fraction, step)


def assert_finite_step(task, model, returned) -> None:
    """Each loss of ``returned`` finite, and its gradient into its own group's parameters (as the engine takes it)."""
    groups = task.parameter_groups(model)
    losses = returned if isinstance(returned, dict) else {next(iter(groups)): returned}
    names = {id(param): name for name, param in model.named_parameters()}
    for group, loss in losses.items():
        assert torch.isfinite(loss), f"the loss of group {group!r} is {loss.item()}"
        params = groups[group]["params"]
        grads = torch.autograd.grad(loss, params, allow_unused=True, retain_graph=True)
        bad = nonfinite_tensors((names[id(param)], grad) for param, grad in zip(params, grads))
        assert not bad, f"non-finite gradients of group {group!r}: {bad}"


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """24 simulated 12³ grids (20 train, 2 val, 2 test)."""
    return build_dataset(24, size=SIZE, seed=0, out_dir=tmp_path_factory.mktemp("data"), n_examples=0)


@pytest.fixture(scope="module")
def unet_models(tmp_path_factory):
    """U-Nets to step from: random weights (both configs), one epoch of the tiny run, the shipped checkpoint."""
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("unet") / "one-epoch"
    task = UNetTask({"data": UNET_DATA, "model": {"input_contrast": "bright", "threshold_skip": 20.0}})
    fit(task, TrainConfig(out=out, epochs=1, batch_size=2, threads=1), progress=False, command=["test"])
    models = {
        "random": UNet3D(UNet3DConfig()),
        "random, threshold skip": UNet3D(UNet3DConfig(input_contrast="bright", threshold_skip=20.0)),
        "one epoch": load_checkpoint(out)[0],
        "shipped": load_checkpoint("checkpoints/unet")[0],
    }
    return {name: model.train() for name, model in models.items()}


# ----------------------------------------------------------------------------- each task's training step


@_settings(STEP_EXAMPLES)
@given(batch=scan_batches(), model=st.sampled_from(["random", "random, threshold skip", "one epoch", "shipped"]),
       precision=st.sampled_from(["bfloat16", "float32"]), seed=st.integers(0, 2**16))
def test_unet_step_is_finite(unet_models, batch, model, precision, seed):
    task = UNetTask({"data": UNET_DATA, "step": {"cpu_precision": precision}})
    torch.manual_seed(seed)
    returned, parts = task.training_step(unet_models[model], batch, _progress(0.0, 0))
    assert_finite_step(task, unet_models[model], returned)
    assert np.isfinite(parts["loss"])


@pytest.fixture(scope="module")
def cvae_tasks(tiny_data):
    model = {"width": 8, "latent_channels": 2, "film_hidden": 8, "prior_rank": 4}
    critic = {"model": {**model, "critic_width": 4}, "loss": {"adversarial_weight": 0.05}}
    tasks = {"plain": make_task("cvae", {"model": model}, data=tiny_data), "critic": make_task("cvae", critic, data=tiny_data)}
    torch.manual_seed(0)
    return {name: (task, task.build_model().train()) for name, task in tasks.items()}


@_settings(STEP_EXAMPLES)
@given(batch=grid_batches(), kind=st.sampled_from(["plain", "critic"]), fraction=st.floats(0.0, 12.0),
       seed=st.integers(0, 2**16))
def test_cvae_step_is_finite(cvae_tasks, batch, kind, fraction, seed):
    task, model = cvae_tasks[kind]
    torch.manual_seed(seed)
    returned, parts = task.training_step(model, batch, _progress(fraction, 0))
    assert_finite_step(task, model, returned)
    assert all(np.isfinite(value) for value in parts.values()), parts


@pytest.fixture(scope="module")
def cgan_tasks(tiny_data):
    model = {"noise_channels": 2, "width": 8, "film_hidden": 8, "critic_width": 4, "fine_channels": 2}
    torch.manual_seed(0)
    tasks = {}
    for loss in GAN_LOSSES:
        task = make_task("cgan", {"model": model, "loss": {"loss": loss, "euler_weight": 0.5, "granulometry_weight": 5.0}, "gan": {"critic_steps": 2}},
                         data=tiny_data)
        tasks[loss] = (task, task.build_model().train())
    return tasks


@_settings(STEP_EXAMPLES)
@given(batch=grid_batches(), loss=st.sampled_from(GAN_LOSSES), step=st.integers(0, 1), seed=st.integers(0, 2**16))
def test_cgan_step_is_finite_for_every_loss(cgan_tasks, batch, loss, step, seed):
    task, model = cgan_tasks[loss]
    torch.manual_seed(seed)
    returned, parts = task.training_step(model, batch, _progress(0.5, step))
    assert set(returned) == ({"critic", "generator"} if step == 0 else {"critic"})
    assert_finite_step(task, model, returned)
    assert all(np.isfinite(value) for value in parts.values()), parts


@pytest.fixture(scope="module")
def img2vox_task(tiny_data):
    task = make_task("img2vox", {"model": {"width": 8, "groups": 4, "latent_channels": 2}}, data=tiny_data)
    torch.manual_seed(0)
    return task, task.build_model().train()


@_settings(STEP_EXAMPLES)
@given(batch=grid_batches(), fraction=st.floats(0.0, 12.0), seed=st.integers(0, 2**16))
def test_img2vox_step_is_finite(img2vox_task, batch, fraction, seed):
    task, model = img2vox_task
    grids, _ = batch
    torch.manual_seed(seed)
    returned, parts = task.training_step(model, (grids, torch.arange(len(grids))), _progress(fraction, 0))
    assert_finite_step(task, model, returned)
    assert all(np.isfinite(value) for value in parts.values()), parts


# ----------------------------------------------------------------------------- the loss functions at extremes

#: Logits from "sure" to "undecided", including values where a sigmoid saturates in float32.
logit_values = st.sampled_from([-1e4, -100.0, -30.0, 0.0, 30.0, 100.0, 1e4]) | st.floats(-50.0, 50.0)


@st.composite
def logits_and_targets(draw, shape):
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    kind = draw(st.sampled_from(["constant", "random"]))
    logits = np.full(shape, draw(logit_values)) if kind == "constant" else rng.normal(0, draw(st.floats(0.0, 1e3)), shape)
    targets = draw(st.sampled_from(["empty", "full", "random"]))
    target = {"empty": np.zeros(shape), "full": np.ones(shape)}.get(targets, rng.random(shape) < 0.3)
    return (torch.tensor(logits, dtype=torch.float32, requires_grad=True),
            torch.from_numpy(np.asarray(target, dtype=np.float32)))


def _assert_finite_with_gradients(loss, inputs) -> None:
    assert torch.isfinite(loss), loss
    for index, grad in enumerate(torch.autograd.grad(loss, inputs)):
        assert torch.isfinite(grad).all(), f"input {index}"


@_settings(LOSS_EXAMPLES)
@given(data=logits_and_targets((2, 1, 4, 4, 4)), dice_weight=st.floats(0.0, 2.0), bce_weight=st.floats(0.01, 2.0))
def test_dice_bce_loss_is_finite_at_extreme_logits(data, dice_weight, bce_weight):
    logits, target = data
    _assert_finite_with_gradients(dice_bce_loss(logits, target, dice_weight=dice_weight, bce_weight=bce_weight), [logits])


@_settings(LOSS_EXAMPLES)
@given(data=logits_and_targets((2, 6, 6, 6)), prior=logits_and_targets((2, 6, 6, 6)),
       mean=st.floats(-10.0, 10.0), logvar=st.floats(-12.0, 6.0), warmup=st.floats(0.0, 1.0),
       free_bits=st.sampled_from([0.0, 0.5]))
def test_cvae_loss_is_finite_at_extremes(data, prior, mean, logvar, warmup, free_bits):
    # logvar within the clamp of the encoders (porelib.models.cvae, img2vox): [-12, 6]
    logits, targets = data
    prior_logits = prior[0]
    means = torch.full((2, 2, 3, 3, 3), mean, requires_grad=True)
    logvars = torch.full((2, 2, 3, 3, 3), logvar, requires_grad=True)
    loss, parts = cvae_loss(logits, targets, means, logvars, CVAELossConfig(free_bits=free_bits), warmup=warmup,
                            prior_logits=prior_logits)
    _assert_finite_with_gradients(loss, [logits, means, logvars, prior_logits])
    assert all(np.isfinite(value) for value in parts.values()), parts
    _assert_finite_with_gradients(section_bce(logits, targets[:, :, :, 3]).sum(), [logits])


@_settings(LOSS_EXAMPLES)
@given(loss=st.sampled_from(GAN_LOSSES), real=logit_values, fake=logit_values, real_density=logit_values,
       fake_density=logit_values, densities=st.lists(st.sampled_from([0.0, 1.0]) | st.floats(0.0, 1.0), min_size=1, max_size=3))
def test_gan_losses_are_finite_at_extreme_scores(loss, real, fake, real_density, fake_density, densities):
    n = len(densities)
    inputs = [torch.full((n,), value, requires_grad=True) for value in (real, fake, real_density, fake_density)]
    critic, generator = gan_losses(inputs[0], inputs[1], GANLossConfig(loss=loss), real_density_logits=inputs[2],
                                   fake_density_logits=inputs[3], densities=torch.tensor(densities))
    for value in (critic, generator):
        assert torch.isfinite(value), (loss, value)
        grads = torch.autograd.grad(value, inputs, allow_unused=True, retain_graph=True)
        assert all(grad is None or torch.isfinite(grad).all() for grad in grads), loss


@pytest.fixture(scope="module")
def material_tasks(tmp_path_factory):
    """Material tasks on sparse, balanced and dense samples (volumes) and on an image."""
    from porelib.tasks.material import MaterialTask

    folder = tmp_path_factory.mktemp("materials")
    rng = np.random.default_rng(0)
    tasks = {}
    for name, shape, porosity in (("sparse", (40, 36, 36), 0.02), ("balanced", (40, 36, 36), 0.5),
                                  ("dense", (40, 36, 36), 0.98), ("image", (130, 130), 0.3)):  # fmt: skip
        path = folder / f"{name}.npy"
        np.save(path, rng.random(shape) < porosity)
        options = {"model": {"width": 8, "noise_channels": 4, "convs_per_level": 1},
                   "data": {"input": str(path), "patch": 16}, "loss": {"target_patches": 4, "slices": 2}}  # fmt: skip
        tasks[name] = MaterialTask(options)
    return tasks


@_settings(STEP_EXAMPLES)
@given(kind=st.sampled_from(["sparse", "balanced", "dense", "image"]), n=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_material_step_is_finite(material_tasks, kind, n, seed):
    task = material_tasks[kind]
    torch.manual_seed(seed)
    model = task.build_model()
    loss, parts = task.training_step(model, (torch.arange(n),), _progress(0.5, 1))
    loss.backward()
    assert torch.isfinite(loss) and all(np.isfinite(value) for value in parts.values())
    assert not nonfinite_tensors((name, p.grad) for name, p in model.named_parameters())
