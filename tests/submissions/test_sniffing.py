"""The web side's format sniffer: formats by content, refusals with their codes."""

from __future__ import annotations

import io
import struct

import pytest

from gan_platform.errors import ApplicationError
from submissions.sniffing import HEAD_SIZE, checkpoint_format_sniff
from tests.submissions.helpers import onnx_bytes, pickle_bytes, safetensors_bytes, tar_bytes, zip_bytes


def sniff(data: bytes) -> str:
    return checkpoint_format_sniff(io.BytesIO(data), size=len(data))


def refusal(data: bytes) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        sniff(data)
    return caught.value


def test_a_safetensors_file_is_recognised_by_its_header():
    assert sniff(safetensors_bytes()) == "safetensors"


def test_a_safetensors_header_longer_than_the_first_read_is_read_from_the_file():
    # given a header padded beyond the sniffer's first read
    data = safetensors_bytes(header_padding=HEAD_SIZE + 1000)
    # when sniffed from the file, it is still safetensors
    assert sniff(data) == "safetensors"


def test_an_onnx_model_is_recognised_by_its_protobuf_fields():
    assert sniff(onnx_bytes()) == "onnx"


def test_the_file_name_does_not_matter_only_the_bytes():
    # a pickle named like safetensors is still a pickle
    error = refusal(pickle_bytes())
    assert error.code == "unsupported_format"


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (pickle_bytes(), "pickle"),
        (zip_bytes(), "zip archive"),
        (tar_bytes(), "tar archive"),
        (b"\x1f\x8b\x08\x00" + b"\x00" * 32, "gzip"),
        (b"GIF89a" + b"\x00" * 64, "neither safetensors nor ONNX"),
        (b"\x08\x07" + b"\xff" * 40, "neither safetensors nor ONNX"),
    ],
    ids=["pickle", "zip", "tar", "gzip", "gif", "bad-protobuf"],
)
def test_other_formats_are_refused_as_unsupported_with_a_reason_and_what_to_upload(data, words):
    error = refusal(data)
    assert error.code == "unsupported_format"
    assert error.status == 400
    assert words in error.message
    assert "safetensors" in error.message and "ONNX" in error.message


def test_an_empty_file_is_refused_as_empty():
    error = refusal(b"")
    assert error.code == "empty_file"
    assert "0 bytes" in error.message


def test_a_safetensors_file_whose_header_is_not_json_is_refused():
    data = safetensors_bytes()
    damaged = data[:8] + b"{not json" + data[17:]
    error = refusal(damaged)
    assert error.code == "unsupported_format"
    assert "header is not a JSON object" in error.message


def test_a_safetensors_header_length_past_the_end_of_the_file_is_not_safetensors():
    data = safetensors_bytes()
    truncated = data[:40]
    error = refusal(truncated)
    assert error.code == "unsupported_format"


def test_an_onnx_file_cut_short_is_refused_when_the_whole_file_is_read():
    data = onnx_bytes()
    error = refusal(data[: len(data) // 2])
    assert error.code == "unsupported_format"


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def test_sniffing_reads_only_the_head_of_a_large_onnx_file():
    # given a large ONNX-shaped file: ir_version, producer_name, then a graph field far longer than the head
    graph_length = 4 * HEAD_SIZE
    data = b"\x08\x08" + b"\x12\x05tests" + b"\x3a" + _varint(graph_length) + b"\x00" * graph_length
    reads: list[int] = []

    class CountingFile(io.BytesIO):
        def read(self, size=-1):
            reads.append(size)
            return super().read(size)

    # when sniffed
    fmt = checkpoint_format_sniff(CountingFile(data), size=len(data))
    # then the head alone names the format, read in one bounded read
    assert fmt == "onnx"
    assert reads == [HEAD_SIZE]


def test_an_onnx_field_longer_than_the_file_is_refused():
    data = b"\x08\x08" + b"\x3a" + _varint(10 * HEAD_SIZE) + b"\x00" * 100
    assert refusal(data).code == "unsupported_format"


class _CountingReader(io.BytesIO):
    """A file that counts the bytes read from it."""

    bytes_read = 0

    def read(self, size=-1):
        data = super().read(size)
        self.bytes_read += len(data)
        return data


def test_the_web_side_accepts_no_larger_safetensors_header_than_the_worker():
    from gan_core.checkpoints import MAX_SAFETENSORS_HEADER_BYTES
    from submissions.sniffing import SAFETENSORS_MAX_HEADER

    assert SAFETENSORS_MAX_HEADER == MAX_SAFETENSORS_HEADER_BYTES


def test_a_header_larger_than_the_worker_accepts_is_refused_without_reading_it():
    # given a safetensors file whose header claims 2 MiB (the worker accepts 1 MiB) and really holds it
    claimed = 2 * 1024 * 1024
    data = struct.pack("<Q", claimed) + b"{" + b" " * (claimed - 2) + b"}" + b"\x00" * 64
    reader = _CountingReader(data)
    # when sniffed
    with pytest.raises(ApplicationError) as caught:
        checkpoint_format_sniff(reader, size=len(data))
    # then it is refused with the worker's code, having read only the first block
    assert caught.value.code == "header_too_large"
    assert "claims 2097152 bytes; at most 1048576" in caught.value.message
    assert reader.bytes_read <= HEAD_SIZE


def test_a_header_of_exactly_the_limit_is_still_read_and_accepted():
    data = safetensors_bytes(header_padding=(1 << 20) - 200)
    reader = _CountingReader(data)
    assert checkpoint_format_sniff(reader, size=len(data)) == "safetensors"
    assert reader.bytes_read <= (1 << 20) + HEAD_SIZE
