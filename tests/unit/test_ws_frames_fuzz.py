"""The frame parser against arbitrary input (Hypothesis) and against an independent
client library's frames (the `websockets` package's serializer, client side: masked)."""

from __future__ import annotations

import itertools
import os
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.frames import Close, Opcode
from websockets.frames import Frame as WsFrame

from chatserver.transport import frames
from chatserver.transport.frames import BINARY, CLOSE, PING, PONG, TEXT, Frame, FrameError

MAX = 4096


def serialized(frame: WsFrame) -> bytes:
    """Bytes as the websockets client sends them: masked with a random key."""
    return frame.serialize(mask=True)


def feed_in_pieces(data: bytes, cuts: list[int]) -> list[Frame]:
    parser = frames.FrameParser(MAX)
    out: list[Frame] = []
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    for start, end in itertools.pairwise(points):
        out += parser.feed(data[start:end])
    return out


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300), st.lists(st.integers(0, 400), max_size=6))
def test_arbitrary_bytes_give_frames_or_a_close_code_never_a_crash(
    data: bytes, cuts: list[int]
) -> None:
    try:
        out = feed_in_pieces(data, cuts)
    except FrameError as exc:
        assert exc.code in (frames.PROTOCOL_ERROR, frames.INVALID_DATA, frames.TOO_BIG)
        return
    for frame in out:
        assert frame.opcode in (TEXT, BINARY, CLOSE, PING, PONG)
        assert isinstance(frame.data, str) == (frame.opcode == TEXT)


texts = st.text(max_size=200)
blobs = st.binary(max_size=200)
controls = st.sampled_from([Opcode.PING, Opcode.PONG])


@st.composite
def messages(draw: st.DrawFn) -> tuple[list[WsFrame], list[Frame]]:
    """A message as the websockets client may send it (whole, or in fragments with control
    frames between them), and what the parser must make of it."""
    is_text = draw(st.booleans())
    whole: bytes = draw(texts).encode() if is_text else draw(blobs)
    cuts = sorted(draw(st.lists(st.integers(0, len(whole)), max_size=4)))
    pieces = [whole[a:b] for a, b in zip([0, *cuts], [*cuts, len(whole)], strict=True)]
    sent: list[WsFrame] = []
    expected: list[Frame] = []
    for i, piece in enumerate(pieces):
        first = Opcode.TEXT if is_text else Opcode.BINARY
        opcode = first if i == 0 else Opcode.CONT
        sent.append(WsFrame(opcode, piece, fin=i == len(pieces) - 1))
        if i < len(pieces) - 1 and draw(st.booleans()):
            control = draw(controls)
            body = draw(st.binary(max_size=125))
            sent.append(WsFrame(control, body))
            expected.append(Frame(int(control), body))
    expected.append(Frame(TEXT, whole.decode()) if is_text else Frame(BINARY, whole))
    return sent, expected


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(messages(), min_size=1, max_size=5), st.lists(st.integers(0, 5000), max_size=8))
def test_what_the_websockets_client_sends_comes_out_as_sent(
    conversation: list[tuple[list[WsFrame], list[Frame]]], cuts: list[int]
) -> None:
    data = b"".join(serialized(f) for sent, _ in conversation for f in sent)
    expected = [frame for _, want in conversation for frame in want]
    assert feed_in_pieces(data, cuts) == expected


def test_websockets_frames_of_every_length_encoding() -> None:
    for size in (0, 125, 126, 65535, 65536, 100_000):
        payload = os.urandom(size)
        parser = frames.FrameParser(200_000)
        assert parser.feed(serialized(WsFrame(Opcode.BINARY, payload))) == [Frame(BINARY, payload)]


def test_a_websockets_close_comes_out_with_its_code_and_reason() -> None:
    body = Close(4001, "see you next week ✓").serialize()
    (frame,) = frames.FrameParser(MAX).feed(serialized(WsFrame(Opcode.CLOSE, body)))
    assert frame == Frame(CLOSE, body)
    assert frames.close_code(body) == 4001


@pytest.mark.parametrize(
    ("sent", "code"),
    [
        ([WsFrame(Opcode.TEXT, b"x" * (MAX + 1))], frames.TOO_BIG),
        (
            [WsFrame(Opcode.BINARY, b"x" * 3000, fin=False), WsFrame(Opcode.CONT, b"x" * 2000)],
            frames.TOO_BIG,
        ),
        ([WsFrame(Opcode.TEXT, b"\xff\xfe")], frames.INVALID_DATA),
        ([WsFrame(Opcode.CONT, b"orphan")], frames.PROTOCOL_ERROR),
        (
            [WsFrame(Opcode.TEXT, b"a", fin=False), WsFrame(Opcode.BINARY, b"b")],
            frames.PROTOCOL_ERROR,
        ),
        ([WsFrame(Opcode.CLOSE, struct.pack("!H", 1005))], frames.PROTOCOL_ERROR),
    ],
)
# (Its serializer refuses long or fragmented control frames and reserved bits itself: those
# are in tests/unit/test_ws_frames.py, built by hand.)
def test_what_websockets_can_be_made_to_send_wrongly_is_refused(
    sent: list[WsFrame], code: int
) -> None:
    data = b"".join(serialized(f) for f in sent)
    with pytest.raises(FrameError) as raised:
        frames.FrameParser(MAX).feed(data)
    assert raised.value.code == code


def test_unmasked_frames_from_websockets_server_side_are_refused() -> None:
    with pytest.raises(FrameError) as raised:
        frames.FrameParser(MAX).feed(WsFrame(Opcode.TEXT, b"hi").serialize(mask=False))
    assert raised.value.code == frames.PROTOCOL_ERROR


@given(st.one_of(texts, blobs))
def test_server_frames_parse_in_websockets_as_sent(payload: str | bytes) -> None:
    """The other direction: what huddle writes, read by the websockets client's parser."""
    from websockets.streams import StreamReader

    reader = StreamReader()
    reader.feed_data(frames.message_frame(payload))
    parse = WsFrame.parse(reader.read_exact, mask=False)
    try:
        next(parse)
        raise AssertionError("websockets wanted more bytes")
    except StopIteration as done:
        frame: WsFrame = done.value
    assert frame.fin
    if isinstance(payload, str):
        assert (frame.opcode, frame.data.decode()) == (Opcode.TEXT, payload)
    else:
        assert (frame.opcode, frame.data) == (Opcode.BINARY, payload)
