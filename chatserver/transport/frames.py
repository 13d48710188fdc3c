"""Websocket frames (RFC 6455 §5): client frames parsed without I/O, server frames built.

Fed the bytes as they arrive, the parser returns whole messages and control frames, and
says what is wrong (with the close code to send, §7.4.1) when the client breaks the
protocol. Only what a chat client sends is accepted: masked frames, no extensions
(permessage-deflate is not offered in the handshake), messages up to a size limit, and
(``accept_binary=False``) no binary messages: refused on the first frame's header, before
its payload is waited for. Text
messages come out as str, checked as UTF-8 (§8.1); a close frame's code and reason are
checked too (§5.5.1, §7.4). Unmasking is plain Python on big integers: no third-party
private helper (docs/benchmarks.md has what it costs next to aiohttp's C one).
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass
from typing import Final

CONTINUATION: Final = 0x0
TEXT: Final = 0x1
BINARY: Final = 0x2
CLOSE: Final = 0x8
PING: Final = 0x9
PONG: Final = 0xA

NORMAL: Final = 1000
GOING_AWAY: Final = 1001
PROTOCOL_ERROR: Final = 1002
UNSUPPORTED_DATA: Final = 1003
INVALID_DATA: Final = 1007
POLICY_VIOLATION: Final = 1008
TOO_BIG: Final = 1009

# The codes a peer may send (RFC 6455 §7.4.1 and the IANA registry): 1005, 1006 and 1015
# are for reporting only, 1004 and 1016-2999 are reserved, 3000-4999 belong to apps.
_SENDABLE_CODES: Final = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011})
_SENDABLE_CODES_LATER: Final = frozenset({1012, 1013, 1014})

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_U16 = struct.Struct("!H")
_U64 = struct.Struct("!Q")


class FrameError(Exception):
    """The client broke the protocol: close the connection with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code


@dataclass(frozen=True, slots=True)
class Frame:
    """A whole message or a control frame: ``data`` is str for TEXT, bytes otherwise."""

    opcode: int
    data: str | bytes


def accept_key(client_key: str) -> str:
    """The Sec-WebSocket-Accept answer to a client's Sec-WebSocket-Key."""
    digest = hashlib.sha1(client_key.encode("ascii") + _GUID).digest()
    return base64.b64encode(digest).decode("ascii")


def valid_client_key(client_key: str) -> bool:
    try:
        return len(base64.b64decode(client_key, validate=True)) == 16
    except ValueError:
        return False


def encode(opcode: int, payload: bytes) -> bytes:
    """An unmasked, final frame from the server."""
    length = len(payload)
    first = 0x80 | opcode
    if length < 126:
        return bytes((first, length)) + payload
    if length < 65536:
        return bytes((first, 126)) + _U16.pack(length) + payload
    return bytes((first, 127)) + _U64.pack(length) + payload


def message_frame(payload: str | bytes) -> bytes:
    """An unmasked, final message frame from the server: text for str, else binary."""
    if isinstance(payload, str):
        return encode(TEXT, payload.encode())
    return encode(BINARY, bytes(payload))


def close_frame(code: int, reason: str = "") -> bytes:
    """A close frame; the reason is cut to fit a control frame (125 bytes in all)."""
    return encode(CLOSE, _U16.pack(code) + reason.encode()[:123])


def unmask(mask: bytes, data: bytes | bytearray) -> bytes:
    """XOR ``data`` with the repeated 4-byte ``mask`` (RFC 6455 §5.3)."""
    length = len(data)
    if length == 0:
        return b""
    key = (mask * ((length + 3) >> 2))[:length]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(length, "big")


def close_code(payload: bytes) -> int:
    """The code to answer a client's (already validated) close frame with: its own."""
    return _U16.unpack_from(payload)[0] if payload else NORMAL


def _check_close(payload: bytes) -> None:
    if not payload:
        return
    if len(payload) == 1:
        raise FrameError(PROTOCOL_ERROR, "a close frame's code is two bytes")
    code = _U16.unpack_from(payload)[0]
    if (
        code not in _SENDABLE_CODES
        and code not in _SENDABLE_CODES_LATER
        and not (3000 <= code <= 4999)
    ):
        raise FrameError(PROTOCOL_ERROR, f"close code {code} may not be sent")
    try:
        payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise FrameError(INVALID_DATA, "a close reason must be UTF-8") from None


def _message(opcode: int, payload: bytes) -> Frame:
    if opcode == TEXT:
        try:
            return Frame(TEXT, payload.decode("utf-8"))
        except UnicodeDecodeError:
            raise FrameError(INVALID_DATA, "text that is not UTF-8") from None
    return Frame(opcode, payload)


class FrameParser:
    """Client frames in, whole messages (TEXT/BINARY, fragments joined) and control frames
    (PING, PONG, CLOSE) out, in order. After a FrameError the parser is spent."""

    __slots__ = (
        "_buffer",
        "_fragments",
        "_fragments_opcode",
        "_fragments_size",
        "accept_binary",
        "max_size",
    )

    def __init__(self, max_size: int, *, accept_binary: bool = True) -> None:
        self.max_size = max_size
        self.accept_binary = accept_binary
        self._buffer = bytearray()
        self._fragments: list[bytes] = []
        self._fragments_opcode = 0
        self._fragments_size = 0

    def feed(self, data: bytes) -> list[Frame]:
        buffer = self._buffer
        buffer += data
        frames: list[Frame] = []
        pos = 0
        end = len(buffer)
        while end - pos >= 2:
            first, second = buffer[pos], buffer[pos + 1]
            if first & 0x70:
                raise FrameError(PROTOCOL_ERROR, "no extension was negotiated")
            if not second & 0x80:
                raise FrameError(PROTOCOL_ERROR, "client frames must be masked")
            fin, opcode, length = first & 0x80, first & 0x0F, second & 0x7F
            header = 2
            if length == 126:
                if end - pos < 4:
                    break
                length = _U16.unpack_from(buffer, pos + 2)[0]
                header = 4
            elif length == 127:
                if end - pos < 10:
                    break
                length = _U64.unpack_from(buffer, pos + 2)[0]
                if length >> 63:
                    raise FrameError(PROTOCOL_ERROR, "a 64-bit length has its top bit clear")
                header = 10
            if opcode >= CLOSE:
                if not fin or length > 125:
                    raise FrameError(PROTOCOL_ERROR, "control frames are short and whole")
            elif length > self.max_size or self._fragments_size + length > self.max_size:
                raise FrameError(TOO_BIG, "message too big")
            elif opcode == BINARY and not self.accept_binary:
                raise FrameError(UNSUPPORTED_DATA, "binary messages are not accepted")
            start = pos + header + 4
            if end - start < length:
                break
            payload = unmask(bytes(buffer[start - 4 : start]), buffer[start : start + length])
            pos = start + length
            frame = self._frame(fin, opcode, payload)
            if frame is not None:
                frames.append(frame)
        del buffer[:pos]
        return frames

    def _frame(self, fin: int, opcode: int, payload: bytes) -> Frame | None:
        if opcode >= CLOSE:
            if opcode == CLOSE:
                _check_close(payload)
            elif opcode not in (PING, PONG):
                raise FrameError(PROTOCOL_ERROR, f"unknown control opcode {opcode}")
            return Frame(opcode, payload)
        if opcode == CONTINUATION:
            if not self._fragments_opcode:
                raise FrameError(PROTOCOL_ERROR, "continuation without a first fragment")
        elif opcode in (TEXT, BINARY):
            if self._fragments_opcode:
                raise FrameError(PROTOCOL_ERROR, "new message inside a fragmented one")
            if fin:
                return _message(opcode, payload)  # the usual case: one frame, one message
            self._fragments_opcode = opcode
        else:
            raise FrameError(PROTOCOL_ERROR, f"unknown opcode {opcode}")
        self._fragments.append(payload)
        self._fragments_size += len(payload)
        if not fin:
            return None
        message = _message(self._fragments_opcode, b"".join(self._fragments))
        self._fragments, self._fragments_opcode, self._fragments_size = [], 0, 0
        return message
