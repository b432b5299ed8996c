"""Count U-Net training steps whose gradients are not finite, by CPU precision and oneDNN setting.

The measurement behind :data:`porelib.tasks.unet.BFLOAT16_MIN_COARSE_SIDE` (the flaky NaN of
issue 27). Each run is one process; run it several times, since the NaNs oneDNN's bfloat16
convolutions produce on tiny coarse levels are not the same from one process to another::

    python tests/onednn_nan_hunt.py --precision bfloat16 --onednn on --steps 90 --crops 8,12,16
    python tests/onednn_nan_hunt.py --precision bfloat16 --onednn off --steps 90 --crops 8,12,16
    python tests/onednn_nan_hunt.py --precision float32 --onednn on --steps 90 --crops 8,12,16

A step is the U-Net's forward pass under CPU autocast (as ``UNetTask.training_step`` ran it
before the fix: whatever the crop), the Dice + BCE loss, and the gradients of every weight,
on a random crop (N = 1 or 2, uniform noise, label = noise > 0.5) of the sides in ``--crops``
in turn, from random weights (seed 0), on one thread. Prints the steps with a non-finite
gradient and the count.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from porelib.models.unet3d import UNet3D, UNet3DConfig, dice_bce_loss  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--precision", choices=("bfloat16", "float32"), default="bfloat16")
    parser.add_argument("--onednn", choices=("on", "off"), default="on")
    parser.add_argument("--steps", type=int, default=90)
    parser.add_argument("--crops", default="8,12,16", help="crop sides used in turn, e.g. 8,12,16 or 32,48")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.backends.mkldnn.enabled = args.onednn == "on"
    torch.manual_seed(0)
    model = UNet3D(UNet3DConfig()).train()
    crops = [int(side) for side in args.crops.split(",")]
    rng = np.random.default_rng(0)
    bad = 0
    for step in range(args.steps):
        side, n = crops[step % len(crops)], 1 + step % 2
        images = torch.from_numpy(rng.random((n, 1, side, side, side)).astype(np.float32))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bfloat16"):
            logits = model(images)
        loss = dice_bce_loss(logits.float(), (images > 0.5).float())
        grads = torch.autograd.grad(loss, list(model.parameters()))
        names = [name for (name, _), grad in zip(model.named_parameters(), grads) if not torch.isfinite(grad).all()]
        if names:
            bad += 1
            print(f"step {step}: crop {side}, batch {n}: non-finite gradients in {', '.join(names)}")
    print(f"{args.precision}, oneDNN {args.onednn}, crops {args.crops}: {bad} of {args.steps} steps non-finite")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
