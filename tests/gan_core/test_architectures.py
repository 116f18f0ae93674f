"""The torch-free configs and shapes (``gan_core.architectures``) agree with the generators torch
builds, over the hyper-parameter space, and name what is wrong with a checkpoint's tensors."""

from __future__ import annotations

import itertools

import pytest

from gan_core.architectures import check_state_shapes, expected_shapes
from gan_core.failures import CheckpointError
from gan_core.generators import expected_state_shapes

GRID = [
    *(
        {"architecture": "resnet", "hyperparameters": {"ngf": ngf, "n_blocks": blocks, "use_dropout": dropout}}
        for ngf, blocks, dropout in itertools.product((1, 3, 64), (6, 9), (False, True))
    ),
    *(
        {"architecture": "transformer_net", "hyperparameters": {"channels": c, "n_residual": n}}
        for c, n in itertools.product((1, 5, 32), (1, 5, 10))
    ),
    *(
        {"architecture": "unet_small", "hyperparameters": {"base_channels": b, "depth": d}}
        for b, d in itertools.product((1, 7, 32), (1, 2, 3, 4))
    ),
]


@pytest.mark.parametrize("config", GRID, ids=lambda config: str(sorted(config["hyperparameters"].items())))
def test_the_torch_free_shapes_equal_the_torch_generators_state_dict(config):
    assert expected_shapes(config) == expected_state_shapes(config)
    assert list(expected_shapes(config)) == list(expected_state_shapes(config))  # the same order


def test_a_renamed_layer_names_the_missing_and_the_unexpected_tensors_with_the_closest_expected_name():
    config = {"architecture": "transformer_net"}
    shapes = dict(expected_shapes(config))
    shapes["res1.conv_1.conv2d.weight"] = shapes.pop("res1.conv1.conv2d.weight")
    with pytest.raises(CheckpointError) as caught:
        check_state_shapes(shapes, config)
    message = caught.value.message
    assert caught.value.code == "missing_tensor"
    assert "are missing: 'res1.conv1.conv2d.weight'" in message
    assert "'res1.conv_1.conv2d.weight' (closest expected: 'res1.conv1.conv2d.weight')" in message


def test_a_prefixed_state_dict_gets_the_hint_to_save_the_generator_itself():
    config = {"architecture": "unet_small", "hyperparameters": {"depth": 1}}
    shapes = {f"netG.{name}": shape for name, shape in expected_shapes(config).items()}
    with pytest.raises(CheckpointError) as caught:
        check_state_shapes(shapes, config)
    assert "start with 'netG.'" in caught.value.message


def test_a_wrong_hyper_parameter_shows_as_a_shape_mismatch_with_both_shapes():
    shapes = expected_shapes({"architecture": "resnet", "hyperparameters": {"ngf": 32}})
    with pytest.raises(CheckpointError) as caught:
        check_state_shapes(shapes, {"architecture": "resnet"})
    assert caught.value.code == "shape_mismatch"
    assert "'model.1.weight' is [32, 3, 7, 7], expected [64, 3, 7, 7]" in caught.value.message
