"""The hostile corpus: every file refused with its own code, no payload run, nothing large allocated."""

from __future__ import annotations

import io
import pickle
import resource
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import pytest
import torch

from gan_core.checkpoints import CheckpointError, CheckpointFormat, detect_format, inspect_checkpoint
from tests.gan_core import hostile


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[hostile.HostileCase], Path]:
    directory = tmp_path_factory.mktemp("hostile")
    marker = directory / "marker"
    return hostile.build_hostile_corpus(directory / "files", marker=marker), marker


def _refusal(path: Path) -> CheckpointError:
    with pytest.raises(CheckpointError) as caught:
        inspect_checkpoint(path)
    return caught.value


def test_every_hostile_file_is_refused_with_its_expected_code_and_reason(corpus) -> None:
    cases, marker = corpus
    # when each file is inspected
    wrong = []
    for case in cases:
        error = _refusal(case.path)
        if error.code != case.code or (case.reason is not None and error.reason != case.reason):
            wrong.append(f"{case.name}: expected {case.code}/{case.reason}, got {error.code}/{error.reason}: {error}")
    # then each got exactly the answer it should, and no payload ran
    assert wrong == []
    assert not marker.exists()


def test_the_corpus_covers_every_attack_the_issue_lists(corpus) -> None:
    cases, _ = corpus
    answers = {(case.code, case.reason) for case in cases}
    expected = {
        ("unsupported_format", "pickle"),
        ("unsupported_format", "torchscript"),
        ("unsupported_format", "torch_export"),
        ("unsupported_format", "zip"),
        ("unsupported_format", "tar"),
        ("unsupported_format", "polyglot"),
        ("empty_file", None),
        ("truncated", None),
        ("header_too_large", None),
        ("bad_header", None),
        ("bad_dtype", None),
        ("offsets_out_of_bounds", None),
        ("missing_tensor", None),
        ("unexpected_tensor", None),
        ("shape_mismatch", None),
        ("onnx_external_data", None),
        ("onnx_custom_op", None),
    }
    assert expected <= answers
    extensions = {case.path.suffix for case in cases if case.name.startswith("reduce_payload")}
    assert {".pt", ".pth", ".bin", ".safetensors", ".onnx", ".ckpt", ""} <= extensions


def test_the_payloads_are_live_so_the_marker_check_can_fail(tmp_path: Path) -> None:
    # given the same payloads aimed at another marker
    pickled_marker = tmp_path / "pickled"
    # when a careless loader unpickles one (done here on purpose, in a temporary folder)
    pickle.loads(hostile.pickle_payload(pickled_marker, protocol=4))
    # then the marker appears: absence of the marker in the corpus test means nothing ran
    assert pickled_marker.exists()
    # and the TorchScript payload creates its file when run after torch.jit.load
    scripted_marker = tmp_path / "scripted"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = torch.jit.load(io.BytesIO(hostile.torchscript_bytes(scripted_marker)))
    loaded(torch.zeros(1))
    assert scripted_marker.exists()


def test_inspection_never_calls_a_deserialiser_or_reads_zip_members(corpus, monkeypatch) -> None:
    cases, _ = corpus

    def forbidden(*args, **kwargs):
        raise AssertionError("a deserialiser was called on a participant file")

    # given every loader that could run code replaced by a trap
    for owner, name in (
        (pickle, "load"),
        (pickle, "loads"),
        (pickle, "Unpickler"),
        (torch, "load"),
        (torch.jit, "load"),
        (torch.export, "load"),
        (zipfile.ZipFile, "open"),
        (zipfile.ZipFile, "read"),
    ):
        monkeypatch.setattr(owner, name, forbidden)
    # when the whole corpus is inspected, then every file is still refused by our checks, not by a trap
    for case in cases:
        error = _refusal(case.path)
        assert error.code == case.code, case.name


@pytest.mark.parametrize(
    "name", ["tensor_10gb.safetensors", "header_100mb.safetensors", "external_data.onnx", "zip64_claim.zip"]
)
def test_inspecting_a_file_that_claims_gigabytes_allocates_under_a_few_megabytes(corpus, name: str) -> None:
    cases, _ = corpus
    case = next(case for case in cases if case.name == name)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    try:
        error = _refusal(case.path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss_growth_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    assert error.code == case.code
    assert peak < 4 * 1024 * 1024, f"Python allocations peaked at {peak} bytes"
    assert rss_growth_kib < 64 * 1024, f"resident set grew by {rss_growth_kib} KiB"


def test_zip_directories_past_the_bound_are_never_handed_to_zipfile(corpus, monkeypatch) -> None:
    cases, _ = corpus

    def forbidden(*args, **kwargs):
        raise AssertionError("zipfile opened an archive whose central directory is past the bound")

    monkeypatch.setattr(zipfile, "ZipFile", forbidden)
    for name in ("many_members.zip", "zip64_claim.zip"):
        case = next(case for case in cases if case.name == name)
        error = _refusal(case.path)
        assert (error.code, error.reason) == ("unsupported_format", "zip")


def test_refusals_of_foreign_formats_say_what_to_upload_instead(corpus) -> None:
    cases, _ = corpus
    for case in cases:
        if case.code == "unsupported_format":
            message = _refusal(case.path).message
            assert "python -m gan_core export" in message, case.name
            assert case.reason in message, case.name


def test_a_pickle_is_named_as_such_and_never_called_a_safetensors_file(corpus) -> None:
    cases, _ = corpus
    case = next(case for case in cases if case.name == "reduce_payload.safetensors")
    error = _refusal(case.path)
    assert error.reason == "pickle"
    assert "pickle can run arbitrary code" in error.message


def test_detection_goes_by_content_whatever_the_file_is_called(tmp_path: Path) -> None:
    # given valid safetensors and ONNX bytes under misleading names
    valid = hostile.safetensors_bytes(hostile.tiny_tensors(), metadata=hostile.tiny_metadata())
    for name in ("model.pt", "model.onnx", "model"):
        (tmp_path / name).write_bytes(valid)
        assert detect_format(tmp_path / name) is CheckpointFormat.SAFETENSORS
    (tmp_path / "graph.safetensors").write_bytes(hostile.onnx_bytes())
    assert detect_format(tmp_path / "graph.safetensors") is CheckpointFormat.ONNX
