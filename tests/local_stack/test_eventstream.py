"""The local Bedrock endpoint's event-stream encoder, read back by botocore's own parser."""

from __future__ import annotations

import json
import struct
import zlib

import pytest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer

from local_stack.ai_upstream.eventstream import encode_event, encode_exception


def _decoded(data: bytes) -> list[tuple[dict[str, object], bytes]]:
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return [(dict(m.headers), m.payload) for m in buffer]


def test_an_event_decodes_with_its_headers_and_payload() -> None:
    # GIVEN a contentBlockDelta with text beyond ASCII
    data = encode_event(
        "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "h\u00e9 \U0001f30d"}}
    )
    # WHEN botocore's parser reads it
    ((headers, payload),) = _decoded(data)
    # THEN it has Bedrock's headers and the JSON payload
    assert headers == {
        ":event-type": "contentBlockDelta",
        ":content-type": "application/json",
        ":message-type": "event",
    }
    assert json.loads(payload) == {"contentBlockIndex": 0, "delta": {"text": "h\u00e9 \U0001f30d"}}


def test_an_exception_decodes_as_an_exception_message() -> None:
    ((headers, payload),) = _decoded(encode_exception("throttlingException", "slow down"))
    assert headers[":message-type"] == "exception"
    assert headers[":exception-type"] == "throttlingException"
    assert json.loads(payload) == {"message": "slow down"}


def test_messages_split_anywhere_decode_in_order() -> None:
    data = b"".join(encode_event("messageStop", {"stopReason": r}) for r in ("a", "b", "c"))
    buffer = EventStreamBuffer()
    reasons = []
    for i in range(0, len(data), 7):  # bytes arrive in odd pieces
        buffer.add_data(data[i : i + 7])
        reasons += [json.loads(m.payload)["stopReason"] for m in buffer]
    assert reasons == ["a", "b", "c"]


def test_the_lengths_and_checksums_are_the_ones_the_parser_checks() -> None:
    data = encode_event("messageStart", {"role": "assistant"})
    total, headers_length = struct.unpack(">II", data[:8])
    assert total == len(data)
    assert struct.unpack(">I", data[8:12])[0] == zlib.crc32(data[:8])
    assert 12 + headers_length < total
    # AND a flipped payload byte fails the message checksum
    corrupt = bytearray(data)
    corrupt[-6] ^= 0xFF
    with pytest.raises(ChecksumMismatch):
        _decoded(bytes(corrupt))
