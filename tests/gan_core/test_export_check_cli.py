"""``python -m gan_core export`` and ``check``: what a participant runs, and what they are told."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gan_core.checkpoints import export_onnx, inspect_checkpoint
from gan_core.cli import main
from gan_core.generators import build_generator
from tests.gan_core import hostile

FACTORIES = '''
import torch
from gan_core.generators import build_generator


def small_transformer():
    torch.manual_seed(0)
    return build_generator({"architecture": "transformer_net", "hyperparameters": {"channels": 4, "n_residual": 1}})


class FreeForm(torch.nn.Module):
    """Not a reference architecture: only ONNX can carry it."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x):
        return torch.tanh(self.conv(x) + x)


def free_form():
    torch.manual_seed(0)
    return FreeForm()


def not_a_module():
    return "weights.pt"
'''


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "atelier_cli_factories.py").write_text(FACTORIES)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


TRANSFORMER = ["--architecture", "transformer_net", "--hyperparameters", '{"channels": 4, "n_residual": 1}']


def test_export_writes_a_safetensors_checkpoint_that_check_accepts(workspace: Path, capsys) -> None:
    # when a participant exports their module of a reference architecture
    code, out, err = _run(
        capsys, "export", *TRANSFORMER, "--module-factory", "atelier_cli_factories:small_transformer", "-o", "m.st"
    )
    # then the file is written, validated, and check agrees
    assert (code, err) == (0, "")
    assert "OK: the platform's checks pass for this file." in out
    assert "probe: max |file - module| = 0," in out
    assert inspect_checkpoint(workspace / "m.st").architecture == "transformer_net"
    code, out, _ = _run(capsys, "check", "m.st")
    assert code == 0
    assert "format: safetensors" in out
    assert 'architecture: transformer_net {"channels": 4, "n_residual": 1}' in out
    assert "OK: the platform would accept this checkpoint." in out


def test_export_from_a_plain_state_dict_adds_the_config(workspace: Path, capsys) -> None:
    from safetensors.torch import save_file

    module = build_generator({"architecture": "resnet", "hyperparameters": {"n_blocks": 6, "ngf": 4}})
    save_file(module.state_dict(), str(workspace / "weights.safetensors"))
    code, out, err = _run(
        capsys,
        "export",
        "--architecture",
        "resnet",
        "--hyperparameters",
        '{"n_blocks": 6, "ngf": 4}',
        "--state-dict",
        "weights.safetensors",
        "-o",
        "model.safetensors",
    )
    assert (code, err) == (0, "")
    info = inspect_checkpoint(workspace / "model.safetensors")
    assert info.config["hyperparameters"] == {"n_blocks": 6, "ngf": 4, "use_dropout": False}


def test_export_onnx_accepts_any_module_and_check_reports_it_as_json(workspace: Path, capsys) -> None:
    code, out, err = _run(
        capsys, "export", "--onnx", "--module-factory", "atelier_cli_factories:free_form", "-o", "f.onnx"
    )
    assert (code, err) == (0, "")
    assert "wrote f.onnx (onnx," in out
    code, out, _ = _run(capsys, "check", "f.onnx", "--output-format", "json")
    report = json.loads(out)
    assert code == 0
    assert report["accepted"] is True
    assert report["format"] == "onnx"
    assert report["parameters"] == 3 * 3 * 3 * 3 + 3
    assert report["probe"]["shape"] == [1, 3, 64, 64]


def test_export_from_a_python_file_path_works_too(workspace: Path, capsys) -> None:
    code, _, err = _run(
        capsys, "export", "--onnx", "--module-factory", "atelier_cli_factories.py:free_form", "-o", "g.onnx"
    )
    assert (code, err) == (0, "")
    assert (workspace / "g.onnx").exists()


def test_export_refuses_weights_that_do_not_fit_the_architecture_and_leaves_no_file(workspace: Path, capsys) -> None:
    code, _, err = _run(
        capsys,
        "export",
        "--architecture",
        "resnet",
        "--module-factory",
        "atelier_cli_factories:small_transformer",
        "-o",
        "wrong.safetensors",
    )
    assert code == 1
    assert "[missing_tensor]" in err
    assert list(workspace.glob("*wrong.safetensors*")) == []


def test_export_reads_no_pickle_even_the_participants_own(workspace: Path, capsys) -> None:
    # given a .pt file that would run code if unpickled
    (workspace / "weights.pt").write_bytes(hostile.pickle_payload(workspace / "marker", protocol=2))
    code, _, err = _run(capsys, "export", *TRANSFORMER, "--state-dict", "weights.pt", "-o", "out.safetensors")
    # then export refuses it and tells how to convert it in their own code
    assert code == 1
    assert "--state-dict reads safetensors files only" in err
    assert "--module-factory" in err
    assert not (workspace / "marker").exists()


def test_export_says_what_is_wrong_with_a_factory_that_returns_no_module(workspace: Path, capsys) -> None:
    code, _, err = _run(
        capsys, "export", "--onnx", "--module-factory", "atelier_cli_factories:not_a_module", "-o", "x.onnx"
    )
    assert code == 1
    assert "returned str, not a torch.nn.Module" in err


def test_safetensors_export_needs_an_architecture(workspace: Path, capsys) -> None:
    code, _, err = _run(capsys, "export", "--module-factory", "atelier_cli_factories:free_form", "-o", "x.safetensors")
    assert code == 1
    assert "needs --architecture" in err


def test_check_refuses_a_pickle_with_its_code_and_exit_status_1(workspace: Path, capsys) -> None:
    (workspace / "model.pth").write_bytes(hostile.pickle_payload(workspace / "marker", protocol=4))
    code, out, _ = _run(capsys, "check", "model.pth")
    assert code == 1
    assert "REFUSED [unsupported_format]: Unsupported checkpoint format (pickle)" in out
    assert not (workspace / "marker").exists()


def test_check_takes_a_sidecar_config_for_plain_safetensors(workspace: Path, capsys) -> None:
    from safetensors.torch import save_file

    config = {"architecture": "unet_small", "hyperparameters": {"base_channels": 2, "depth": 1}}
    save_file(build_generator(config).state_dict(), str(workspace / "plain.safetensors"))
    (workspace / "config.json").write_text(json.dumps(config))
    code, out, _ = _run(capsys, "check", "plain.safetensors")
    assert code == 1 and "REFUSED [bad_config]" in out
    code, out, _ = _run(capsys, "check", "plain.safetensors", "--config", "config.json")
    assert code == 0 and "OK" in out


def test_check_refuses_a_value_range_the_phase_does_not_use(workspace: Path, capsys) -> None:
    _run(capsys, "export", *TRANSFORMER, "--module-factory", "atelier_cli_factories:small_transformer", "-o", "m.st")
    code, out, _ = _run(capsys, "check", "m.st", "--value-range", "0,1")
    assert code == 1
    assert "REFUSED [bad_config]" in out and "--value-range 0,1" in out
    # and the default range parses when written as the documentation writes it, leading minus included
    code, out, _ = _run(capsys, "check", "m.st", "--value-range", "-1,1")
    assert code == 0 and "OK" in out


class _FourChannels(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, x[:, :1]], dim=1)


class _NotANumber(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - x) / (x - x)


@pytest.mark.parametrize(("module", "code"), [(_FourChannels(), "wrong_channels"), (_NotANumber(), "non_finite")])
def test_check_runs_the_probe_and_reports_contract_violations(workspace: Path, capsys, module, code: str) -> None:
    export_onnx(module, workspace / "bad.onnx", sample_size=16)
    exit_code, out, _ = _run(capsys, "check", "bad.onnx")
    assert exit_code == 1
    assert f"REFUSED [{code}]" in out


def test_check_reports_too_slow_against_the_phase_limit(workspace: Path, capsys) -> None:
    _run(capsys, "export", "--onnx", "--module-factory", "atelier_cli_factories:free_form", "-o", "f.onnx")
    code, out, _ = _run(capsys, "check", "f.onnx", "--max-seconds-per-image", "0")
    assert code == 1
    assert "REFUSED [too_slow]" in out


def test_python_dash_m_gan_core_check_is_the_entry_point(tmp_path: Path) -> None:
    (tmp_path / "empty.onnx").write_bytes(b"")
    repository = Path(__file__).resolve().parents[2]
    environment = {**os.environ, "PYTHONPATH": str(repository), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "gan_core", "check", str(tmp_path / "empty.onnx")],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 1
    assert "REFUSED [empty_file]" in result.stdout


def test_check_runs_the_model_in_the_workers_sandbox_by_default(
    workspace: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.gan_core.sandbox_support import ensure_bubblewrap

    ensure_bubblewrap()
    _run(capsys, "export", "--onnx", "--module-factory", "atelier_cli_factories:free_form", "-o", "f.onnx")
    # given a checker process that could not load a model itself
    import gan_core.checkpoints

    def no_loading_here(*args, **kwargs):
        raise AssertionError("check loaded the model in its own process")

    monkeypatch.setattr(gan_core.checkpoints, "load_generator", no_loading_here)
    # when the file is checked without options
    code, out, err = _run(capsys, "check", "f.onnx", "--output-format", "json")
    # then it was loaded and probed in bubblewrap, and no warning was printed
    report = json.loads(out)
    assert code == 0 and report["accepted"] is True, report
    assert report["isolation"] == "bubblewrap"
    assert report["probe"]["shape"] == [1, 3, 64, 64]
    assert "WARNING" not in err


def test_check_no_sandbox_runs_in_process_and_warns_on_stderr(
    workspace: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(capsys, "export", "--onnx", "--module-factory", "atelier_cli_factories:free_form", "-o", "f.onnx")
    import gan_core.checkpoints

    loaded = []
    real_load = gan_core.checkpoints.load_generator

    def spy(*args, **kwargs):
        loaded.append(args[0])
        return real_load(*args, **kwargs)

    def no_sandbox_run(*args, **kwargs):
        raise AssertionError("--no-sandbox started a sandbox")

    monkeypatch.setattr(gan_core.checkpoints, "load_generator", spy)
    monkeypatch.setattr("gan_core.sandbox.runs.run_in_sandbox", no_sandbox_run)
    code, out, err = _run(capsys, "check", "f.onnx", "--no-sandbox")
    assert code == 0 and "OK: the platform would accept this checkpoint." in out
    assert loaded == [Path("f.onnx")]
    assert "WARNING: --no-sandbox" in err and "a file you made yourself" in err
    assert "WARNING" not in out  # the report on stdout stays machine-readable


def test_check_without_a_sandbox_refuses_onnx_and_names_no_sandbox(
    workspace: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(capsys, "export", "--onnx", "--module-factory", "atelier_cli_factories:free_form", "-o", "f.onnx")
    monkeypatch.setattr("gan_core.sandbox.command.find_bubblewrap", lambda: None)
    code, out, _ = _run(capsys, "check", "f.onnx")
    assert code == 1
    assert "REFUSED [sandbox_unavailable]" in out and "--no-sandbox" in out
