"""Reference generator architectures: sizes, state-dict layouts, strict hyper-parameter schemas."""

from __future__ import annotations

import pytest
import torch

from gan_core.failures import CheckpointError
from gan_core.generators import (
    ARCHITECTURES,
    build_generator,
    expected_state_shapes,
    normalize_config,
    parameter_count,
    required_size_multiple,
)
from tests.gan_core.sandbox_support import SMALL_CONFIGS


def test_the_three_reference_architectures_are_registered() -> None:
    assert set(ARCHITECTURES) == {"resnet", "transformer_net", "unet_small"}


def test_cyclegan_resnet_9_blocks_has_the_published_11_378_m_parameters() -> None:
    # given the default CycleGAN generator (ngf=64, 9 blocks), counted on the meta device (no weights allocated)
    count = parameter_count({"architecture": "resnet", "hyperparameters": {"n_blocks": 9, "ngf": 64}})
    # then it is junyanz's figure exactly, and the 11.4 M of the reference table
    assert count == 11_378_179
    assert abs(count / 1e6 - 11.4) < 0.05


def test_cyclegan_resnet_6_blocks_has_7_837_m_parameters() -> None:
    assert parameter_count({"architecture": "resnet", "hyperparameters": {"n_blocks": 6}}) == 7_837_699


def test_transformer_net_has_the_published_1_7_m_parameters() -> None:
    count = parameter_count({"architecture": "transformer_net"})
    assert count == 1_679_235
    assert abs(count / 1e6 - 1.7) < 0.05


def test_resnet_state_dict_names_follow_the_junyanz_layout() -> None:
    shapes = expected_state_shapes({"architecture": "resnet", "hyperparameters": {"n_blocks": 9, "ngf": 64}})
    # first conv, two downsamplings, nine blocks at 10..18, two transposed convs at 19 and 22, last conv at 26
    assert shapes["model.1.weight"] == (64, 3, 7, 7)
    assert shapes["model.4.weight"] == (128, 64, 3, 3)
    assert shapes["model.7.weight"] == (256, 128, 3, 3)
    assert shapes["model.10.conv_block.1.weight"] == (256, 256, 3, 3)
    assert shapes["model.18.conv_block.5.weight"] == (256, 256, 3, 3)
    assert shapes["model.19.weight"] == (256, 128, 3, 3)
    assert shapes["model.22.weight"] == (128, 64, 3, 3)
    assert shapes["model.26.weight"] == (3, 64, 7, 7)
    assert len(shapes) == 2 * (3 + 2 * 9 + 2 + 1)


def test_resnet_with_dropout_shifts_the_second_block_conv_as_junyanz_does() -> None:
    shapes = expected_state_shapes(
        {"architecture": "resnet", "hyperparameters": {"n_blocks": 6, "ngf": 4, "use_dropout": True}}
    )
    assert "model.10.conv_block.6.weight" in shapes
    assert "model.10.conv_block.5.weight" not in shapes


def test_transformer_net_state_dict_names_follow_pytorch_examples() -> None:
    shapes = expected_state_shapes({"architecture": "transformer_net"})
    assert shapes["conv1.conv2d.weight"] == (32, 3, 9, 9)
    assert shapes["in1.weight"] == (32,)
    assert shapes["res5.in2.bias"] == (128,)
    assert shapes["deconv1.conv2d.weight"] == (64, 128, 3, 3)
    assert shapes["deconv3.conv2d.weight"] == (3, 32, 9, 9)
    assert not any("running" in name for name in shapes)


@pytest.mark.parametrize("config", SMALL_CONFIGS, ids=lambda c: c["architecture"])
@pytest.mark.parametrize(("value_range", "low", "high"), [("-1,1", -1.0, 1.0), ("0,1", 0.0, 1.0)])
def test_each_generator_keeps_the_shape_and_stays_in_the_declared_range(config, value_range, low, high) -> None:
    # given a small generator with large random weights (so its pre-activation output is far outside the range)
    torch.manual_seed(0)
    module = build_generator({**config, "value_range": value_range}).eval()
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.mul_(5)
    images = torch.rand(2, 3, 16, 24) * (high - low) + low
    # when it runs
    with torch.no_grad():
        output = module(images)
    # then the batch, channels, height and width are kept and every value is within the range
    assert output.shape == (2, 3, 16, 24)
    assert output.dtype == torch.float32
    assert float(output.min()) >= low
    assert float(output.max()) <= high
    assert float(output.max() - output.min()) > 0.1


def test_normalize_config_fills_in_defaults() -> None:
    assert normalize_config({"architecture": "resnet"}) == {
        "architecture": "resnet",
        "hyperparameters": {"n_blocks": 9, "ngf": 64, "use_dropout": False},
        "value_range": "-1,1",
    }


@pytest.mark.parametrize(
    ("config", "code", "named"),
    [
        ({"architecture": "stylegan"}, "unknown_architecture", "stylegan"),
        ({"architecture": None}, "unknown_architecture", "resnet, transformer_net, unet_small"),
        ({"architecture": "resnet", "hyperparameters": {"n_block": 9}}, "bad_config", "'n_block'"),
        ({"architecture": "resnet", "hyperparameters": {"n_blocks": 7}}, "bad_config", "'n_blocks'"),
        ({"architecture": "resnet", "hyperparameters": {"ngf": 0}}, "bad_config", "'ngf'"),
        ({"architecture": "resnet", "hyperparameters": {"ngf": 4096}}, "bad_config", "'ngf'"),
        ({"architecture": "resnet", "hyperparameters": {"ngf": 8.0}}, "bad_config", "'ngf'"),
        ({"architecture": "resnet", "hyperparameters": {"ngf": True}}, "bad_config", "'ngf'"),
        ({"architecture": "resnet", "hyperparameters": {"use_dropout": 1}}, "bad_config", "'use_dropout'"),
        ({"architecture": "transformer_net", "hyperparameters": {"n_residual": 11}}, "bad_config", "'n_residual'"),
        ({"architecture": "unet_small", "hyperparameters": {"depth": 0}}, "bad_config", "'depth'"),
        ({"architecture": "resnet", "hyperparameters": []}, "bad_config", "'hyperparameters'"),
        ({"architecture": "resnet", "value_range": "0,255"}, "bad_config", "'value_range'"),
        ({"architecture": "resnet", "code": "import os"}, "bad_config", "'code'"),
    ],
)
def test_bad_configs_are_refused_with_the_key_named(config, code: str, named: str) -> None:
    with pytest.raises(CheckpointError) as caught:
        build_generator(config)
    assert caught.value.code == code
    assert named in caught.value.message


def test_required_size_multiple_follows_the_unet_depth() -> None:
    assert required_size_multiple({"architecture": "resnet"}) == 4
    assert required_size_multiple({"architecture": "transformer_net"}) == 4
    assert required_size_multiple({"architecture": "unet_small", "hyperparameters": {"depth": 3}}) == 8


def test_full_size_shapes_come_from_the_meta_device_without_weights() -> None:
    # given the largest allowed resnet (ngf=256, 9 blocks: about 182 M parameters, 728 MB in float32)
    config = {"architecture": "resnet", "hyperparameters": {"ngf": 256, "n_blocks": 9}}
    # then its names, shapes and count are known without allocating it
    assert expected_state_shapes(config)["model.1.weight"] == (256, 3, 7, 7)
    assert parameter_count(config) > 180_000_000
