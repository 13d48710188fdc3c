"""Websocket frames from a client (RFC 6455 §5), parsed without I/O.

Fed the bytes as they arrive, returns whole messages and control frames; says what is
wrong (with the close code to send) when the client breaks the protocol. Only what a
chat client sends is accepted: masked frames, no extensions (permessage-deflate is not
offered in the handshake), messages up to a size limit. Unmasking uses aiohttp's
C-accelerated helper.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass
from typing import Final

from aiohttp._websocket.helpers import websocket_mask

CONTINUATION: Final = 0x0
TEXT: Final = 0x1
BINARY: Final = 0x2
CLOSE: Final = 0x8
PING: Final = 0x9
PONG: Final = 0xA

PROTOCOL_ERROR: Final = 1002
INVALID_DATA: Final = 1007
TOO_BIG: Final = 1009
NORMAL: Final = 1000

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
    opcode: int
    payload: bytes


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


def close_frame(code: int) -> bytes:
    return encode(CLOSE, _U16.pack(code))


class FrameParser:
    """Client frames in, whole messages (TEXT/BINARY, fragments joined) and control frames
    (PING, PONG, CLOSE) out, in order."""

    __slots__ = ("_buffer", "_fragments", "_fragments_opcode", "_fragments_size", "max_size")

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
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
                header = 10
            if opcode >= CLOSE:
                if not fin or length > 125:
                    raise FrameError(PROTOCOL_ERROR, "control frames are short and whole")
            elif length > self.max_size or self._fragments_size + length > self.max_size:
                raise FrameError(TOO_BIG, "message too big")
            start = pos + header + 4
            if end - start < length:
                break
            payload = bytearray(buffer[start : start + length])
            websocket_mask(bytes(buffer[pos + header : start]), payload)
            pos = start + length
            frame = self._message(fin, opcode, bytes(payload))
            if frame is not None:
                frames.append(frame)
        del buffer[:pos]
        return frames

    def _message(self, fin: int, opcode: int, payload: bytes) -> Frame | None:
        if opcode >= CLOSE:
            if opcode not in (CLOSE, PING, PONG):
                raise FrameError(PROTOCOL_ERROR, f"unknown control opcode {opcode}")
            return Frame(opcode, payload)
        if opcode == CONTINUATION:
            if not self._fragments_opcode:
                raise FrameError(PROTOCOL_ERROR, "continuation without a first fragment")
        elif opcode in (TEXT, BINARY):
            if self._fragments_opcode:
                raise FrameError(PROTOCOL_ERROR, "new message inside a fragmented one")
            if fin:
                return Frame(opcode, payload)  # the usual case: one frame, one message
            self._fragments_opcode = opcode
        else:
            raise FrameError(PROTOCOL_ERROR, f"unknown opcode {opcode}")
        self._fragments.append(payload)
        self._fragments_size += len(payload)
        if not fin:
            return None
        message = Frame(self._fragments_opcode, b"".join(self._fragments))
        self._fragments, self._fragments_opcode, self._fragments_size = [], 0, 0
        return message
