"""The 3D U-Net: shapes for several configs, invalid configs, old cards, the threshold skip, the Dice + BCE loss."""

import json

import pytest
import torch

from porelib.models.unet3d import UNet3D, UNet3DConfig, dice_bce_loss

pytestmark = pytest.mark.usefixtures("single_thread")


# (config, input shape, output shape); odd sides are padded inside and cropped back.
CASES = [
    ({}, (1, 1, 16, 16, 16), (1, 1, 16, 16, 16)),
    ({}, (2, 1, 13, 20, 9), (2, 1, 13, 20, 9)),
    ({"channels": (4, 8), "groups": 2}, (1, 1, 5, 6, 7), (1, 1, 5, 6, 7)),
    ({"channels": (8, 16, 32), "norm": "instance", "out_channels": 2}, (3, 1, 8, 8, 12), (3, 2, 8, 8, 12)),
    ({"in_channels": 2, "channels": (8, 8, 8), "dropout": 0.2}, (1, 2, 12, 12, 12), (1, 1, 12, 12, 12)),
    ({"input_contrast": "bright", "threshold_skip": 20.0}, (2, 1, 9, 16, 10), (2, 1, 9, 16, 10)),
    (
        {"in_channels": 2, "out_channels": 2, "input_contrast": "bright", "threshold_skip": 5.0},
        (1, 2, 8, 8, 8),
        (1, 2, 8, 8, 8),
    ),
]


@pytest.mark.parametrize(("kwargs", "input_shape", "output_shape"), CASES)
def test_output_shape(kwargs, input_shape, output_shape):
    torch.manual_seed(0)
    model = UNet3D(UNet3DConfig(**kwargs)).eval()
    with torch.inference_mode():
        assert tuple(model(torch.randn(input_shape)).shape) == output_shape


def test_default_model_is_a_few_hundred_thousand_parameters():
    count = sum(p.numel() for p in UNet3D(UNet3DConfig()).parameters())
    assert 200_000 < count < 600_000


def test_config_round_trips_through_json():
    config = UNet3DConfig(channels=(8, 16), groups=8, norm="instance", input_contrast="bright", threshold_skip=3.0)
    rebuilt = UNet3DConfig(**json.loads(json.dumps(config.to_dict())))
    assert rebuilt == config and rebuilt.channels == (8, 16)


def test_a_card_written_before_the_input_options_gets_the_behaviour_it_was_trained_with():
    # The first shipped card's config: no input_contrast, no threshold_skip.
    old = {
        "in_channels": 1,
        "out_channels": 1,
        "channels": [8, 16, 32, 64],
        "norm": "group",
        "groups": 4,
        "dropout": 0.0,
    }
    config = UNet3DConfig(**old)
    assert config.input_contrast == "any" and config.threshold_skip == 0.0
    names = set(UNet3D(config).state_dict())
    assert not {"skip_gain", "skip_offset"} & names


def test_untrained_threshold_skip_is_a_threshold_at_mid_range():
    torch.manual_seed(0)
    model = UNet3D(UNet3DConfig(input_contrast="bright", threshold_skip=20.0)).eval()
    volume = torch.rand(1, 1, 12, 10, 8)
    with torch.inference_mode():
        logits = model(volume)
    torch.testing.assert_close(logits, 20.0 * (volume - 0.5))
    assert {"skip_gain", "skip_offset"} <= set(model.state_dict())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"channels": (16,)}, "at least two positive integers"),
        ({"channels": (8, 0)}, "at least two positive integers"),
        ({"channels": "16,32"}, "at least two positive integers"),
        ({"channels": (8, 12), "groups": 8}, "groups .8. must divide"),
        ({"in_channels": 0}, "in_channels must be a positive integer"),
        ({"groups": 0}, "groups must be a positive integer"),
        ({"norm": "batch"}, "norm must be one of group, instance"),
        ({"dropout": 1.0}, "dropout must be a finite number >= 0 and <= 0.9"),
        ({"input_contrast": "dark"}, "input_contrast must be one of any, bright"),
        ({"input_contrast": "bright", "threshold_skip": -1.0}, "threshold_skip must be a finite number >= 0"),
        ({"threshold_skip": 20.0}, "threshold_skip needs input_contrast='bright'"),
    ],
)
def test_invalid_configs_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        UNet3D(UNet3DConfig(**kwargs))


def test_configs_refuse_bad_values_when_made_not_when_the_model_is_built():
    with pytest.raises(TypeError, match=r"UNet3DConfig\.out_channels must be an integer; got 1\.5"):
        UNet3DConfig(out_channels=1.5)
    with pytest.raises(ValueError, match=r"UNet3DConfig\.norm must be one of group, instance; got 'grup'; did you mean 'group'\?"):
        UNet3DConfig(norm="grup")


def test_rejects_a_non_config_and_a_wrong_input():
    with pytest.raises(TypeError, match="UNet3DConfig"):
        UNet3D({"channels": (8, 16)})
    with pytest.raises(ValueError, match=r"input must have shape \(N, 1, D, H, W\)"):
        UNet3D(UNet3DConfig())(torch.zeros(1, 16, 16, 16))


def test_loss_is_small_for_a_right_prediction_and_large_for_a_wrong_one():
    target = (torch.rand(2, 1, 8, 8, 8, generator=torch.Generator().manual_seed(0)) > 0.7).float()
    right = dice_bce_loss(20 * (2 * target - 1), target)
    wrong = dice_bce_loss(-20 * (2 * target - 1), target)
    assert right.item() < 0.02 and wrong.item() > 10


def test_loss_trains_the_model():
    torch.manual_seed(0)
    model = UNet3D(UNet3DConfig(channels=(4, 8), groups=2))
    volume = torch.rand(1, 1, 8, 8, 8)
    target = (volume > 0.5).float()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(20):
        optimizer.zero_grad()
        loss = dice_bce_loss(model(volume), target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]  # deterministic: 1.21 -> 0.65 after 20 steps


def test_loss_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        dice_bce_loss(torch.zeros(1, 1, 4, 4, 4), torch.zeros(1, 1, 4, 4, 2))
