"""The upload runs the worker's own torch-free checks (``gan_core.formats``): what the worker would
refuse by the file's bytes or header is refused at upload with the same code, reason and message,
before it costs a run or a quota slot; the rest is left to the sandbox."""

from __future__ import annotations

import io
import json
import struct

import pytest

from gan_core.checkpoints import inspect_checkpoint
from gan_core.failures import CheckpointError
from gan_core.formats import MAX_SAFETENSORS_HEADER_BYTES, check_header
from gan_platform.errors import ApplicationError
from submissions.services import _format_require
from tests.gan_core.hostile import build_hostile_corpus
from tests.gan_core.onnx_cases import onnx_worker_refusal, refused_cases
from tests.gan_core.onnx_cases import valid_bytes as onnx_valid_bytes
from tests.submissions.helpers import onnx_bytes, pickle_bytes, safetensors_bytes, tar_bytes, zip_bytes

HEADER_CODES = {
    "unsupported_format",
    "empty_file",
    "truncated",
    "header_too_large",
    "bad_header",
    "bad_dtype",
    "offsets_out_of_bounds",
    "onnx_external_data",
    "onnx_custom_op",
}
"""What the header alone tells: the upload must refuse these as the worker does."""
ONNX_CASES = refused_cases()


class _Phase:
    """What ``_format_require`` reads of a phase: the competition's accepted formats."""

    class competition:
        slug = "wood"
        accepted_formats = ["safetensors", "onnx"]


def upload(data: bytes) -> str:
    return _format_require(phase=_Phase, uploaded_file=io.BytesIO(data), size=len(data))


def refusal(data: bytes) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        upload(data)
    return caught.value


def worker_refusal(path) -> CheckpointError | None:
    try:
        inspect_checkpoint(path)
    except CheckpointError as error:
        return error
    return None


def test_every_hostile_file_gets_the_workers_answer_at_upload_when_its_header_tells(tmp_path):
    marker = tmp_path / "PWNED"
    cases = build_hostile_corpus(tmp_path / "corpus", marker=marker, with_real_pt2=False)
    refused_early = 0
    for case in cases:
        worker = worker_refusal(case.path)
        assert worker is not None and worker.code == case.code, case.name  # the corpus's own claim
        data = case.path.read_bytes()
        try:
            upload(data)
        except ApplicationError as error:
            # refused at upload: exactly as the worker would, reason and message included
            assert (error.code, error.extra.get("reason"), error.message) == (
                worker.code,
                worker.reason,
                worker.message,
            ), case.name
            refused_early += 1
        else:
            assert case.code not in HEADER_CODES, f"{case.name}: the worker refuses it by its header ({case.code})"
    assert not marker.exists()
    assert refused_early >= 25, refused_early


@pytest.mark.parametrize(
    ("data", "code", "reason"),
    [
        (safetensors_bytes() + zip_bytes(), "unsupported_format", "polyglot"),
        (pickle_bytes(), "unsupported_format", "pickle"),
        (b"(dp0\nS'weight'\np1\nI1\ns.", "unsupported_format", "pickle"),  # protocol 0
        (b"BZh91AY&SY" + b"\x00" * 40, "unsupported_format", "compressed"),
        (b"\x28\xb5\x2f\xfd" + b"\x00" * 40, "unsupported_format", "compressed"),
        (zip_bytes(), "unsupported_format", "pickle"),  # a torch.save archive
        (tar_bytes(), "unsupported_format", "tar"),
        (b"GIF89a" + b"\x00" * 64, "unsupported_format", "unrecognised"),
        (b"", "empty_file", None),
        (safetensors_bytes()[:-4], "truncated", None),
    ],
    ids=["polyglot", "pickle", "pickle-0", "bzip2", "zstd", "torch-save-zip", "tar", "gif", "empty", "truncated"],
)
def test_files_the_first_version_let_through_or_refused_vaguely_get_the_specific_answer(data, code, reason):
    error = refusal(data)
    assert (error.code, error.extra.get("reason"), error.status) == (code, reason, 400)
    assert "Upload" in error.message or "upload" in error.message  # says what to do


def test_a_safetensors_file_without_its_config_is_refused_at_upload():
    error = refusal(safetensors_bytes(with_config=False))
    assert error.code == "bad_config" and "python -m gan_core export --architecture" in error.message
    assert "next to the file" not in error.message  # no way to do that exists


def test_a_checkpoint_of_the_wrong_architecture_is_refused_at_upload_naming_the_tensors():
    # the tiny TransformerNet's weights under a config that declares more residual blocks
    data = safetensors_bytes()
    header_length = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + header_length])
    header["__metadata__"]["atelier"] = json.dumps(
        {"architecture": "transformer_net", "hyperparameters": {"channels": 1, "n_residual": 2}}
    )
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    error = refusal(struct.pack("<Q", len(text)) + text + data[8 + header_length :])
    assert error.code == "missing_tensor" and "'res2.conv1.conv2d.weight'" in error.message


def test_valid_files_pass_and_name_their_format():
    assert upload(safetensors_bytes()) == "safetensors"
    assert upload(safetensors_bytes(header_padding=200_000)) == "safetensors"
    assert upload(onnx_bytes()) == "onnx"


def test_a_format_the_competition_does_not_accept_is_refused_with_both_named():
    class Phase(_Phase):
        class competition:
            slug = "wood"
            accepted_formats = ["safetensors"]

    with pytest.raises(ApplicationError) as caught:
        _format_require(phase=Phase, uploaded_file=io.BytesIO(onnx_bytes()), size=len(onnx_bytes()))
    assert caught.value.code == "unsupported_format" and "accepts only safetensors" in caught.value.message


class _CountingReader(io.BytesIO):
    bytes_read = 0

    def read(self, size=-1):
        data = super().read(size)
        self.bytes_read += len(data)
        return data


def test_a_header_larger_than_the_worker_accepts_is_refused_without_reading_it():
    claimed = 2 * 1024 * 1024
    data = struct.pack("<Q", claimed) + b"{" + b" " * (claimed - 2) + b"}" + b"\x00" * 64
    reader = _CountingReader(data)
    with pytest.raises(CheckpointError) as caught:
        check_header(reader, len(data))
    assert caught.value.code == "header_too_large" and "at most 1048576" in caught.value.message
    assert reader.bytes_read <= 512 + 70_000  # the head and the zip end-record search, not the header
    assert reader.tell() == 0  # left where it was


def test_a_large_onnx_file_is_recognised_from_a_few_bounded_reads():
    data = onnx_valid_bytes(weight_bytes=8 * 1024 * 1024)  # its operators checked, its weights skipped
    reader = _CountingReader(data)
    assert check_header(reader, len(data)).format == "onnx"
    assert reader.bytes_read <= 512 + 70_000 + 1000


@pytest.mark.parametrize("name", sorted(ONNX_CASES))
def test_each_onnx_file_the_worker_refuses_by_its_operators_is_refused_at_upload_as_the_worker_does(tmp_path, name):
    data, code = ONNX_CASES[name]
    worker = onnx_worker_refusal(data, tmp_path)
    error = refusal(data)
    assert worker is not None and worker.code == code
    assert (error.code, error.message, error.status) == (worker.code, worker.message, 400)


def test_a_header_of_exactly_the_limit_is_read_and_accepted():
    base = struct.unpack("<Q", safetensors_bytes()[:8])[0]
    data = safetensors_bytes(header_padding=MAX_SAFETENSORS_HEADER_BYTES - base)
    assert struct.unpack("<Q", data[:8])[0] == MAX_SAFETENSORS_HEADER_BYTES
    reader = _CountingReader(data)
    assert check_header(reader, len(data)).format == "safetensors"
    assert reader.bytes_read <= MAX_SAFETENSORS_HEADER_BYTES + 512 + 70_000 + 16
