"""Client websocket frames parsed without I/O: what browsers and clients send, and what
a broken or hostile client might."""

from __future__ import annotations

import os
import struct

import pytest

from chatserver.transport import frames as wsframes
from chatserver.transport.frames import (
    BINARY,
    CLOSE,
    PING,
    TEXT,
    Frame,
    FrameError,
    FrameParser,
)


def client_frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bool = True) -> bytes:
    """A frame as a client sends it (masked with a random key)."""
    first = (0x80 if fin else 0) | opcode
    length = len(payload)
    if length < 126:
        header = bytes((first, (0x80 if mask else 0) | length))
    elif length < 65536:
        header = bytes((first, (0x80 if mask else 0) | 126)) + struct.pack("!H", length)
    else:
        header = bytes((first, (0x80 if mask else 0) | 127)) + struct.pack("!Q", length)
    if not mask:
        return header + payload
    key = os.urandom(4)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return header + key + masked


def test_the_rfc_handshake_example() -> None:
    assert wsframes.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert wsframes.valid_client_key("dGhlIHNhbXBsZSBub25jZQ==")
    assert not wsframes.valid_client_key("not base64!")
    assert not wsframes.valid_client_key("c2hvcnQ=")  # 5 bytes, not 16


@pytest.mark.parametrize("size", [0, 5, 125, 126, 300, 65535, 65536, 70_000])
def test_messages_of_every_length_encoding_come_out_whole(size: int) -> None:
    payload = os.urandom(size)
    parser = FrameParser(max_size=100_000)
    assert parser.feed(client_frame(BINARY, payload)) == [Frame(BINARY, payload)]


def test_frames_split_anywhere_and_run_together_are_reassembled_in_order() -> None:
    data = b"".join(client_frame(TEXT, f'42["message",{i}]'.encode()) for i in range(20))
    parser = FrameParser(max_size=1000)
    out: list[Frame] = []
    for i in range(len(data)):  # one byte at a time: the worst split
        out += parser.feed(data[i : i + 1])
    assert [f.data for f in out] == [f'42["message",{i}]' for i in range(20)]


def test_fragmented_messages_are_joined_and_control_frames_may_come_between() -> None:
    parser = FrameParser(max_size=1000)
    data = (
        client_frame(TEXT, b"hello ", fin=False)
        + client_frame(PING, b"are you there")
        + client_frame(wsframes.CONTINUATION, b"there", fin=True)
    )
    assert parser.feed(data) == [Frame(PING, b"are you there"), Frame(TEXT, "hello there")]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (client_frame(TEXT, b"hi", mask=False), wsframes.PROTOCOL_ERROR),
        (bytes((0x80 | 0x40 | TEXT, 0x80)) + b"\0\0\0\0", wsframes.PROTOCOL_ERROR),  # RSV1
        (client_frame(PING, b"x" * 126), wsframes.PROTOCOL_ERROR),
        (client_frame(CLOSE, b"", fin=False), wsframes.PROTOCOL_ERROR),
        (client_frame(wsframes.CONTINUATION, b"orphan"), wsframes.PROTOCOL_ERROR),
        (client_frame(0x3, b"reserved opcode"), wsframes.PROTOCOL_ERROR),
        (client_frame(0xB, b"reserved control"), wsframes.PROTOCOL_ERROR),
        (client_frame(TEXT, b"a", fin=False) + client_frame(TEXT, b"b"), wsframes.PROTOCOL_ERROR),
        (client_frame(TEXT, b"x" * 101), wsframes.TOO_BIG),
        (
            client_frame(TEXT, b"x" * 60, fin=False)
            + client_frame(wsframes.CONTINUATION, b"x" * 60),
            wsframes.TOO_BIG,
        ),
    ],
)
def test_protocol_errors_name_their_close_code(data: bytes, code: int) -> None:
    with pytest.raises(FrameError) as raised:
        FrameParser(max_size=100).feed(data)
    assert raised.value.code == code


def test_an_announced_giant_is_refused_before_its_bytes_arrive() -> None:
    header = bytes((0x80 | BINARY, 0x80 | 127)) + struct.pack("!Q", 2**40)
    with pytest.raises(FrameError) as raised:
        FrameParser(max_size=1 << 20).feed(header)
    assert raised.value.code == wsframes.TOO_BIG


def test_server_frames_are_unmasked_and_final() -> None:
    assert wsframes.encode(TEXT, b"4hi") == b"\x81\x034hi"
    assert wsframes.close_frame(1000) == b"\x88\x02\x03\xe8"


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"\x03", wsframes.PROTOCOL_ERROR),  # one byte: half a code
        (struct.pack("!H", 999), wsframes.PROTOCOL_ERROR),
        (struct.pack("!H", 1004), wsframes.PROTOCOL_ERROR),  # reserved
        (struct.pack("!H", 1005), wsframes.PROTOCOL_ERROR),  # "no code": never sent
        (struct.pack("!H", 1006), wsframes.PROTOCOL_ERROR),  # "abnormal": never sent
        (struct.pack("!H", 1015), wsframes.PROTOCOL_ERROR),  # "TLS failed": never sent
        (struct.pack("!H", 2999), wsframes.PROTOCOL_ERROR),
        (struct.pack("!H", 5000), wsframes.PROTOCOL_ERROR),
        (struct.pack("!H", 1000) + b"\xc3\x28", wsframes.INVALID_DATA),  # reason not UTF-8
    ],
)
def test_close_frames_are_checked_as_rfc_6455_says(payload: bytes, code: int) -> None:
    with pytest.raises(FrameError) as raised:
        FrameParser(max_size=100).feed(client_frame(CLOSE, payload))
    assert raised.value.code == code


@pytest.mark.parametrize("code", [1000, 1001, 1003, 1008, 1011, 1014, 3000, 4999])
def test_a_valid_close_is_answered_with_its_own_code(code: int) -> None:
    payload = struct.pack("!H", code) + "going ✓".encode()
    (frame,) = FrameParser(max_size=100).feed(client_frame(CLOSE, payload))
    assert frame == Frame(CLOSE, payload)
    assert wsframes.close_code(payload) == code
    assert wsframes.close_code(b"") == wsframes.NORMAL


@pytest.mark.parametrize(
    "text",
    [
        b"\xff",
        b"\xc3\x28",
        b"\xed\xa0\x80",  # a UTF-16 surrogate encoded as UTF-8
        b"\xf4\x90\x80\x80",  # past U+10FFFF
        b"\xe2\x82",  # truncated
        b"\xc0\xaf",  # overlong
    ],
)
def test_text_that_is_not_utf8_is_invalid_data(text: bytes) -> None:
    with pytest.raises(FrameError) as raised:
        FrameParser(max_size=100).feed(client_frame(TEXT, b"ok " + text))
    assert raised.value.code == wsframes.INVALID_DATA


def test_utf8_split_across_fragments_is_whole_text() -> None:
    encoded = "café ☕ 😣".encode()
    data = client_frame(TEXT, encoded[:4], fin=False) + client_frame(
        wsframes.CONTINUATION, encoded[4:]
    )
    assert FrameParser(max_size=100).feed(data) == [Frame(TEXT, "café ☕ 😣")]
    broken = client_frame(TEXT, encoded[:4], fin=False) + client_frame(
        wsframes.CONTINUATION, b"\xff"
    )
    with pytest.raises(FrameError) as raised:
        FrameParser(max_size=100).feed(broken)
    assert raised.value.code == wsframes.INVALID_DATA


def test_unmask_matches_the_byte_at_a_time_definition() -> None:
    for size in (0, 1, 3, 4, 5, 125, 4096, 70_001):
        data, mask = os.urandom(size), os.urandom(4)
        assert wsframes.unmask(mask, data) == bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    assert wsframes.unmask(b"\0\0\0\0", b"\0\0\x01") == b"\0\0\x01"  # leading zero bytes kept
