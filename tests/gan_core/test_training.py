"""train-demo: Gram matrices, demo images, a short training that lowers the loss, and the CLI
(refusing to fall back to a random VGG silently, and producing a checkpoint the platform accepts)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from gan_core.checkpoints import inspect_checkpoint
from gan_core.cli import main
from gan_core.features.extractor import WeightsMode
from gan_core.training import DemoKind, LossNetwork, TrainingSettings, demo_images, gram_matrix, train_demo

TINY = {"size": 32, "channels": 4, "n_residual": 1, "batch_size": 1, "vgg_weights": WeightsMode.RANDOM}


def _save(image: torch.Tensor, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image.permute(1, 2, 0).numpy()).save(path)
    return path


@pytest.fixture
def no_weights_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATELIER_WEIGHTS_DIR", str(tmp_path / "no-weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no-torch-home"))


def test_gram_matrix_is_f_f_transposed_over_c_h_w() -> None:
    # given features of ones, C=2, H=W=2: F F^T = 4 everywhere, divided by C*H*W = 8
    gram = gram_matrix(torch.ones(1, 2, 2, 2))
    assert torch.equal(gram, torch.full((1, 2, 2), 0.5))
    # and a known 2-channel case: channels (1, 2, 3, 4) and (0, 1, 0, 1)
    features = torch.tensor([[1.0, 2.0, 3.0, 4.0], [0.0, 1.0, 0.0, 1.0]]).reshape(1, 2, 2, 2)
    assert torch.allclose(gram_matrix(features), torch.tensor([[[30.0, 6.0], [6.0, 2.0]]]) / 8)


def test_demo_images_are_deterministic_uint8_and_differ_by_kind_and_index() -> None:
    first = demo_images(DemoKind.CONTENT, count=2, size=16, seed=1)
    again = demo_images(DemoKind.CONTENT, count=2, size=16, seed=1)
    style = demo_images(DemoKind.STYLE, count=1, size=16, seed=1)
    assert [image.shape for image in first] == [(3, 16, 16), (3, 16, 16)]
    assert first[0].dtype == torch.uint8
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first[0], first[1])
    assert not torch.equal(first[0], style[0])


def test_the_random_loss_network_says_it_is_not_calibrated_and_passes_gradients() -> None:
    network = LossNetwork(WeightsMode.RANDOM, seed=0)
    images = torch.rand(1, 3, 32, 32, requires_grad=True)
    taps = network(images)
    assert network.calibrated is False
    assert set(taps) == {"conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv4_2", "conv5_1"}
    assert taps["conv5_1"].shape == (1, 512, 2, 2)
    taps["conv4_2"].sum().backward()
    assert images.grad is not None and float(images.grad.abs().sum()) > 0


def test_a_short_training_lowers_the_loss_and_writes_a_reference_checkpoint(tmp_path: Path) -> None:
    # given one content image and one style image of the training size (so every step sees the same crop)
    content = _save(demo_images(DemoKind.CONTENT, count=1, size=32)[0], tmp_path / "content" / "photo.png")
    style = _save(demo_images(DemoKind.STYLE, count=1, size=32)[0], tmp_path / "style.png")
    validated: list[Path] = []
    # when training runs 6 steps
    report = train_demo(
        output=tmp_path / "demo.safetensors",
        style=style,
        content=content.parent,
        settings=TrainingSettings(max_steps=6, learning_rate=3e-3, **TINY),
        validate=lambda path: validated.append(path) or "validated",
    )
    # then the loss went down, the file is a transformer_net checkpoint, and it was validated
    assert report.steps == 6
    assert report.last_loss < report.first_loss
    assert report.calibrated is False
    assert validated == [tmp_path / "demo.safetensors"] and report.validation == "validated"
    info = inspect_checkpoint(tmp_path / "demo.safetensors")
    assert info.architecture == "transformer_net"
    assert info.config["hyperparameters"] == {"channels": 4, "n_residual": 1}
    assert info.config["value_range"] == "-1,1"


def test_train_demo_without_weights_refuses_to_use_a_random_vgg_unless_asked(
    tmp_path: Path, no_weights_anywhere: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["train-demo", "--steps", "1", "--size", "32", "-o", str(tmp_path / "out.safetensors")])
    captured = capsys.readouterr()
    assert code == 1
    assert "--offline-random-vgg" in captured.err
    assert "weights fetch" in captured.err
    assert not (tmp_path / "out.safetensors").exists()


def test_train_demo_with_an_offline_random_vgg_writes_a_checkpoint_the_platform_accepts(
    tmp_path: Path, no_weights_anywhere: None, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "demo.safetensors"
    arguments = ["--steps", "2", "--size", "32", "--channels", "4", "--residual-blocks", "1", "--threads", "1"]
    code = main(["train-demo", "--offline-random-vgg", *arguments, "-o", str(output)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "NOT a real style transfer" in captured.out
    assert "valid: the platform accepts it" in captured.out
    assert inspect_checkpoint(output).architecture == "transformer_net"
