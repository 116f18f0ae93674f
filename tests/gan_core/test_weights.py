"""The weights registry: resolution, digests, safe loading, status and fetching (no internet needed)."""

from __future__ import annotations

import argparse
import functools
import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from gan_core import weights
from gan_core.commands import weights as weights_command
from gan_core.weights import REGISTRY, WeightsError, WeightsFile


def _run_cli(argv: list[str]) -> int:
    """``python -m gan_core weights ...`` through this module's parser alone (the other commands'
    modules are not needed to test it)."""
    parser = argparse.ArgumentParser(prog="python -m gan_core")
    weights_command.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.func(args))


@pytest.fixture
def folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """An empty ATELIER_WEIGHTS_DIR and an empty torch hub cache (via TORCH_HOME)."""
    atelier = tmp_path / "atelier-weights"
    atelier.mkdir()
    torch_home = tmp_path / "torch-home"
    monkeypatch.setenv("ATELIER_WEIGHTS_DIR", str(atelier))
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    assert hub == torch_home / "hub" / "checkpoints"
    return {"atelier": atelier, "hub": hub}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _tiny_state_dict_bytes(tmp_path: Path) -> bytes:
    scratch = tmp_path / "scratch.pth"
    torch.save({"layer.weight": torch.arange(6, dtype=torch.float32).view(2, 3)}, scratch)
    return scratch.read_bytes()


def _register(monkeypatch: pytest.MonkeyPatch, **fields: str) -> WeightsFile:
    entry = WeightsFile(
        name=fields.get("name", "test-tiny"),
        filename=fields.get("filename", "tiny-weights.pth"),
        url=fields.get("url", "https://example.invalid/tiny-weights.pth"),
        sha256=fields["sha256"],
    )
    monkeypatch.setitem(REGISTRY, entry.name, entry)
    return entry


def test_every_network_registers_its_file_url_and_digest() -> None:
    assert REGISTRY["inception-v3-fid"].filename == "pt_inception-2015-12-05-6726825d.pth"
    assert REGISTRY["inception-v3-fid"].url.endswith("/fid_weights/pt_inception-2015-12-05-6726825d.pth")
    assert REGISTRY["inception-v3-fid"].sha256 == "6726825d"
    assert REGISTRY["vgg19"].url == "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
    assert REGISTRY["alexnet"].url == "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
    assert len(REGISTRY["lpips-alex-v0.1"].sha256) == 64
    for entry in REGISTRY.values():
        # Hub-style names carry the leading digits of the digest
        if len(entry.sha256) < 64:
            assert f"-{entry.sha256}." in entry.filename


def test_a_file_in_atelier_weights_dir_loads_with_its_digest(
    folders: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _tiny_state_dict_bytes(tmp_path)
    _register(monkeypatch, sha256=_sha256(data))
    (folders["atelier"] / "tiny-weights.pth").write_bytes(data)

    state_dict, digest = weights.load_state_dict("test-tiny")

    assert weights.resolve("test-tiny") == folders["atelier"] / "tiny-weights.pth"
    assert digest == _sha256(data)
    assert torch.equal(state_dict["layer.weight"], torch.arange(6, dtype=torch.float32).view(2, 3))


def test_a_file_in_the_torch_hub_cache_loads_when_the_weights_dir_lacks_it(
    folders: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given only a hub-style digest prefix in the registry and the file in the hub cache
    data = _tiny_state_dict_bytes(tmp_path)
    _register(monkeypatch, sha256=_sha256(data)[:8])
    folders["hub"].mkdir(parents=True)
    (folders["hub"] / "tiny-weights.pth").write_bytes(data)

    state_dict, digest = weights.load_state_dict("test-tiny")

    assert weights.resolve("test-tiny") == folders["hub"] / "tiny-weights.pth"
    assert digest == _sha256(data)
    assert list(state_dict) == ["layer.weight"]


def test_the_hub_cache_is_searched_even_without_atelier_weights_dir(
    folders: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ATELIER_WEIGHTS_DIR")
    data = _tiny_state_dict_bytes(tmp_path)
    _register(monkeypatch, sha256=_sha256(data))
    folders["hub"].mkdir(parents=True)
    (folders["hub"] / "tiny-weights.pth").write_bytes(data)

    assert weights.search_directories() == [folders["hub"]]
    assert weights.resolve("test-tiny") == folders["hub"] / "tiny-weights.pth"


def test_a_safetensors_file_loads(folders: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    path = folders["atelier"] / "tiny.safetensors"
    save_file({"w": torch.ones(3)}, str(path))
    _register(monkeypatch, filename="tiny.safetensors", sha256=_sha256(path.read_bytes()))

    state_dict, _ = weights.load_state_dict("test-tiny")

    assert torch.equal(state_dict["w"], torch.ones(3))


def test_a_file_with_the_wrong_digest_is_refused(
    folders: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _tiny_state_dict_bytes(tmp_path)
    entry = _register(monkeypatch, sha256="0" * 64)
    (folders["atelier"] / "tiny-weights.pth").write_bytes(data)

    with pytest.raises(WeightsError) as caught:
        weights.load_state_dict("test-tiny")

    message = str(caught.value)
    assert str(folders["atelier"] / "tiny-weights.pth") in message
    assert "wrong SHA-256 digest" in message
    assert f"found {_sha256(data)}" in message
    assert "python -m gan_core weights fetch test-tiny" in message
    assert entry.url in message


def test_a_missing_file_names_the_file_url_searched_folders_and_fetch_command(
    folders: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = _register(monkeypatch, sha256="a" * 64)

    with pytest.raises(WeightsError) as caught:
        weights.resolve("test-tiny")

    message = str(caught.value)
    assert "tiny-weights.pth" in message and "is missing" in message
    assert entry.url in message
    assert str(folders["atelier"]) in message
    assert str(folders["hub"]) in message
    assert "python -m gan_core weights fetch test-tiny" in message


def test_the_real_inception_file_missing_gives_the_same_guidance(folders: dict[str, Path]) -> None:
    with pytest.raises(WeightsError) as caught:
        weights.resolve("inception-v3-fid")

    message = str(caught.value)
    assert "pt_inception-2015-12-05-6726825d.pth" in message
    assert REGISTRY["inception-v3-fid"].url in message
    assert "python -m gan_core weights fetch inception-v3-fid" in message


def test_a_pickle_with_code_objects_is_refused_by_the_weights_only_loader(
    folders: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a file that a full unpickler would turn into an arbitrary object
    path = folders["atelier"] / "tiny-weights.pth"
    torch.save({"layer.weight": torch.ones(1), "payload": functools.partial(print, "pwned")}, path)
    _register(monkeypatch, sha256=_sha256(path.read_bytes()))

    with pytest.raises(WeightsError, match="could not be read safely"):
        weights.load_state_dict("test-tiny")


def test_a_file_that_is_not_a_state_dict_is_refused(folders: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    path = folders["atelier"] / "tiny-weights.pth"
    torch.save([torch.ones(1)], path)
    _register(monkeypatch, sha256=_sha256(path.read_bytes()))

    with pytest.raises(WeightsError, match="is not a state dict of tensors"):
        weights.load_state_dict("test-tiny")


def test_an_unregistered_name_lists_the_known_ones() -> None:
    with pytest.raises(WeightsError, match="No weights file is registered as 'nope'. Known names: alexnet, "):
        weights.resolve("nope")


def test_the_lpips_linear_layers_resolve_from_the_lpips_wheel(folders: dict[str, Path]) -> None:
    pytest.importorskip("lpips", reason="the lpips package (a development requirement) is not installed")

    path = weights.resolve("lpips-alex-v0.1")

    assert path.as_posix().endswith("lpips/weights/v0.1/alex.pth")
    state_dict, digest = weights.load_state_dict("lpips-alex-v0.1")
    assert digest == REGISTRY["lpips-alex-v0.1"].sha256
    assert sorted(state_dict) == [f"lin{index}.model.1.weight" for index in range(5)]


def test_status_reports_verified_missing_and_corrupt_files(
    folders: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _tiny_state_dict_bytes(tmp_path)
    _register(monkeypatch, sha256=_sha256(data))
    _register(monkeypatch, name="test-bad", filename="bad.pth", sha256="b" * 64)
    (folders["atelier"] / "tiny-weights.pth").write_bytes(data)
    (folders["atelier"] / "bad.pth").write_bytes(data)

    rows = {row["name"]: row for row in weights.status()}

    assert rows["test-tiny"]["state"] == "verified"
    assert rows["test-tiny"]["path"] == str(folders["atelier"] / "tiny-weights.pth")
    assert rows["test-bad"]["state"] == "corrupt"
    assert "wrong SHA-256 digest" in rows["test-bad"]["message"]
    assert rows["inception-v3-fid"]["state"] == "missing"
    assert rows["inception-v3-fid"]["searched"][:2] == [str(folders["atelier"]), str(folders["hub"])]


def test_weights_status_command_lists_every_registered_file(
    folders: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _tiny_state_dict_bytes(tmp_path)
    _register(monkeypatch, sha256=_sha256(data))
    (folders["atelier"] / "tiny-weights.pth").write_bytes(data)

    exit_code = _run_cli(["weights", "status"])

    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == f"Searched, in order: {folders['atelier']}, {folders['hub']}"
    assert any(
        line.split() == ["test-tiny", "verified", str(folders["atelier"] / "tiny-weights.pth")] for line in lines
    )
    assert any(
        line.split() == ["inception-v3-fid", "missing", "pt_inception-2015-12-05-6726825d.pth"] for line in lines
    )
    assert "Fetch with: python -m gan_core weights fetch inception-v3-fid vgg19 alexnet" in out
    assert exit_code == 1


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server on 127.0.0.1 serving a folder: (base URL, folder)."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args, **kwargs: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def test_fetch_downloads_over_http_and_verifies_before_saving(
    served: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, root = served
    data = _tiny_state_dict_bytes(tmp_path)
    (root / "remote.pth").write_bytes(data)
    _register(monkeypatch, url=f"{base}/remote.pth", sha256=_sha256(data)[:8])
    target = tmp_path / "fetched"

    paths = weights.fetch(["test-tiny"], directory=target)

    assert paths == [target / "tiny-weights.pth"]
    assert (target / "tiny-weights.pth").read_bytes() == data
    assert sorted(path.name for path in target.iterdir()) == ["tiny-weights.pth"]
    # A second fetch finds it verified and does not download again
    (root / "remote.pth").unlink()
    assert weights.fetch(["test-tiny"], directory=target) == paths


def test_fetch_with_a_digest_mismatch_leaves_no_file_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "source.pth"
    source.write_bytes(b"not the file the registry expects")
    _register(monkeypatch, url=source.as_uri(), sha256="c" * 64)
    target = tmp_path / "fetched"

    with pytest.raises(WeightsError) as caught:
        weights.fetch(["test-tiny"], directory=target)

    assert "wrong SHA-256 digest" in str(caught.value)
    assert "Nothing was saved" in str(caught.value)
    assert list(target.iterdir()) == []


def test_fetch_command_reports_an_unreachable_url_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _register(monkeypatch, url=(tmp_path / "absent.pth").as_uri(), sha256="d" * 64)
    target = tmp_path / "fetched"

    exit_code = _run_cli(["weights", "fetch", "test-tiny", "--dir", str(target)])

    err = capsys.readouterr().err
    assert exit_code == 1
    assert err.startswith("error: Could not download tiny-weights.pth (test-tiny)")
    assert f"copy it into {target}" in err
    assert len(err.strip().splitlines()) == 1
    assert list(target.iterdir()) == []


def test_fetch_command_prints_each_verified_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _tiny_state_dict_bytes(tmp_path)
    source = tmp_path / "source.pth"
    source.write_bytes(data)
    _register(monkeypatch, url=source.as_uri(), sha256=_sha256(data))
    target = tmp_path / "fetched"

    exit_code = _run_cli(["weights", "fetch", "test-tiny", "--dir", str(target)])

    assert exit_code == 0
    assert capsys.readouterr().out.strip() == f"verified  {target / 'tiny-weights.pth'}"


def test_a_registered_digest_must_be_hex() -> None:
    with pytest.raises(ValueError, match="sha256 must be 8 to 64 hex digits"):
        WeightsFile(name="x", filename="x.pth", url="https://example.invalid/x.pth", sha256="xyz")


def test_fetch_copies_the_lpips_layers_from_the_installed_wheel_without_downloading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("lpips", reason="the lpips package (a development requirement) is not installed")
    entry = REGISTRY["lpips-alex-v0.1"]
    monkeypatch.setitem(
        REGISTRY, entry.name, WeightsFile(**{**entry.__dict__, "url": "http://127.0.0.1:9/unreachable.pth"})
    )

    paths = weights.fetch(["lpips-alex-v0.1"], directory=tmp_path)

    assert paths == [tmp_path / "lpips-alex-v0.1.pth"]
    assert weights.file_sha256(paths[0]) == entry.sha256
