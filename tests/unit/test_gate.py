"""The pure parts of the gate (chatserver/transport/gate.py): the client's address behind
proxies, rate-limited log lines, the frame parser's refusal of binary messages."""

from __future__ import annotations

import json
import logging
import os
import struct
from ipaddress import ip_network

import pytest

from chatserver.ratelog import ClientInputFilter, RateLimitedLog, describe
from chatserver.transport import frames
from chatserver.transport.gate import client_address

LOOPBACK = (ip_network("127.0.0.1/32"), ip_network("::1/128"))
PROXIES = (*LOOPBACK, ip_network("10.0.0.0/8"))


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        # No proxy: the peer, whatever the client claims.
        ("198.51.100.9", "203.0.113.1", LOOPBACK, "198.51.100.9"),
        ("198.51.100.9", None, LOOPBACK, "198.51.100.9"),
        # nginx on the same host appends the client's address: the rightmost entry.
        ("127.0.0.1", "203.0.113.1", LOOPBACK, "203.0.113.1"),
        # What the client wrote itself, to the left, is never believed.
        ("127.0.0.1", "1.2.3.4, 203.0.113.1", LOOPBACK, "203.0.113.1"),
        # Two trusted hops: the nearest untrusted one.
        ("127.0.0.1", "1.2.3.4, 203.0.113.1, 10.1.2.3", PROXIES, "203.0.113.1"),
        # Every hop trusted: the farthest.
        ("127.0.0.1", "10.9.9.9, 10.1.2.3", PROXIES, "10.9.9.9"),
        # Garbage stops the walk at the last address we can trust to have been written.
        ("127.0.0.1", "203.0.113.1, junk", LOOPBACK, "127.0.0.1"),
        ("127.0.0.1", "junk, 10.1.2.3", PROXIES, "10.1.2.3"),
        # No proxies trusted at all.
        ("127.0.0.1", "203.0.113.1", (), "127.0.0.1"),
        # IPv6, brackets, IPv4-mapped.
        ("::1", "[2001:db8::7]", LOOPBACK, "2001:db8::7"),
        ("::ffff:198.51.100.9", None, LOOPBACK, "198.51.100.9"),
        (None, "203.0.113.1", LOOPBACK, "unknown"),
    ],
)
def test_the_client_address(
    peer: str | None, forwarded: str | None, trusted: tuple[object, ...], expected: str
) -> None:
    assert client_address(peer, forwarded, trusted) == expected  # type: ignore[arg-type]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_rate_limited_lines_say_how_many_were_left_out(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    limited = RateLimitedLog(logging.getLogger("test.ratelog"), burst=2, interval_s=10, clock=clock)
    with caplog.at_level(logging.INFO, logger="test.ratelog"):
        for i in range(100):
            limited.warning("junk", "bad packet %d", i)
        limited.warning("other", "another kind gets its own lines")
        clock.now = 10.0
        limited.warning("junk", "bad packet %d", 100)
    assert [r.getMessage() for r in caplog.records] == [
        "bad packet 0",
        "bad packet 1",
        "another kind gets its own lines",
        "bad packet 100 (and 98 more like it left out of the log)",
    ]


def test_library_tracebacks_become_one_rate_limited_line() -> None:
    logger = logging.getLogger("test.library")
    logger.propagate = False
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    logger.addHandler(Keep())
    logger.addFilter(ClientInputFilter(burst=3, interval_s=60))
    for _ in range(50):
        try:
            json.loads("[" * 100_000)
        except RecursionError:
            logger.exception("message async handler error")
    assert len(seen) == 3
    assert all(r.exc_info is None for r in seen)
    assert seen[0].getMessage() == "message async handler error: nested too deep"
    assert describe(ValueError("x" * 500)).startswith("ValueError: xxx")
    assert len(describe(ValueError("x" * 500))) < 140


def masked(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    mask = os.urandom(4)
    first = (0x80 if fin else 0) | opcode
    if len(payload) < 126:
        header = bytes((first, 0x80 | len(payload)))
    else:
        header = bytes((first, 0x80 | 126)) + struct.pack("!H", len(payload))
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def test_binary_messages_are_refused_on_the_first_header() -> None:
    parser = frames.FrameParser(65536, accept_binary=False)
    assert parser.feed(masked(frames.TEXT, b"42[]")) == [frames.Frame(frames.TEXT, "42[]")]
    # Only the header of a 60 KB binary frame has arrived: refused already.
    with pytest.raises(frames.FrameError) as refused:
        parser.feed(masked(frames.BINARY, b"\0" * 60_000)[:8])
    assert refused.value.code == frames.UNSUPPORTED_DATA
    assert str(refused.value) == "binary messages are not accepted"
    # The first fragment of a binary message is refused the same way.
    parser = frames.FrameParser(65536, accept_binary=False)
    with pytest.raises(frames.FrameError):
        parser.feed(masked(frames.BINARY, b"\1", fin=False))
    # The default (the codec's own tests, other users) still accepts binary.
    assert frames.FrameParser(65536).feed(masked(frames.BINARY, b"\1")) == [
        frames.Frame(frames.BINARY, b"\1")
    ]


def test_a_close_frame_carries_its_reason() -> None:
    frame = frames.close_frame(1003, "binary messages are not accepted")
    assert frame[0] == 0x88
    assert frame[2:] == struct.pack("!H", 1003) + b"binary messages are not accepted"
    assert len(frames.close_frame(1008, "x" * 500)) == 2 + 125
