"""AWS event-stream messages (``application/vnd.amazon.eventstream``), as Bedrock's
ConverseStream sends them: what the local Bedrock endpoint writes.

Each message is a prelude (total length, headers length, both 4-byte big-endian, and
the prelude's CRC32), its headers (name length, name, type 7 = string, value length,
value), a JSON payload and the CRC32 of everything before it.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

__all__ = ["encode_event", "encode_exception", "encode_message"]

_STRING = 7  # the header value type for UTF-8 strings


def encode_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message with string ``headers`` and ``payload``."""
    encoded = b""
    for name, value in headers.items():
        key, text = name.encode(), value.encode()
        encoded += struct.pack(">B", len(key)) + key + struct.pack(">BH", _STRING, len(text)) + text
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + encoded + payload
    return message + struct.pack(">I", zlib.crc32(message))


def encode_event(event_type: str, payload: dict[str, Any]) -> bytes:
    """An event of a ConverseStream (``messageStart``, ``contentBlockDelta``, ...)."""
    headers = {
        ":event-type": event_type,
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return encode_message(headers, json.dumps(payload, separators=(",", ":")).encode())


def encode_exception(exception_type: str, message: str) -> bytes:
    """An error in the stream, e.g. ``throttlingException`` or ``modelStreamErrorException``."""
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return encode_message(headers, json.dumps({"message": message}).encode())
