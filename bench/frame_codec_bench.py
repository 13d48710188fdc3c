"""Parse cost per client frame: huddle's codec, the same with aiohttp's C mask helper (what
it used before), and the `websockets` package's frame parser.

Frames are what a chat client sends: masked Engine.IO text packets of a chat message's size.
Each parser is fed a buffer of many frames at once (a busy connection) and one frame at a
time (an idle one). Prints microseconds per frame, best of several rounds.

    PYTHONPATH=. .venv/bin/python bench/frame_codec_bench.py
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable

from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode
from websockets.streams import StreamReader

from chatserver.transport import frames

SIZES = (60, 300, 2000)
COUNT = 2000
ROUNDS = 7


def client_frames(size: int) -> list[bytes]:
    text = '42["message",' + json.dumps({"room": "r1", "text": "x" * size}) + "]"
    return [WsFrame(Opcode.TEXT, text.encode()).serialize(mask=True) for _ in range(COUNT)]


def huddle(chunks: list[bytes]) -> int:
    parser = frames.FrameParser(1 << 20)
    return sum(len(parser.feed(chunk)) for chunk in chunks)


def huddle_with_aiohttp_mask(chunks: list[bytes]) -> int:
    """The parser as it was: aiohttp's private C helper unmasking in place."""
    from aiohttp._websocket.helpers import websocket_mask

    original = frames.unmask

    def unmask(mask: bytes, data: bytes | bytearray) -> bytes:
        payload = bytearray(data)
        websocket_mask(mask, payload)
        return bytes(payload)

    frames.unmask = unmask  # type: ignore[assignment]
    try:
        return huddle(chunks)
    finally:
        frames.unmask = original  # type: ignore[assignment]


def websockets_parser(chunks: list[bytes]) -> int:
    reader = StreamReader()
    parsed = 0
    parser = WsFrame.parse(reader.read_exact, mask=True)
    for chunk in chunks:
        reader.feed_data(chunk)
        while True:
            try:
                next(parser)
                break  # needs more bytes
            except StopIteration as done:
                frame: WsFrame = done.value
                frame.data.decode()  # as huddle's parser checks UTF-8 of text
                parsed += 1
                parser = WsFrame.parse(reader.read_exact, mask=True)
    return parsed


def measure(parse: Callable[[list[bytes]], int], chunks: list[bytes], count: int) -> float:
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        assert parse(chunks) == count
        times.append(time.perf_counter() - start)
    return min(times) / count * 1e6


def main() -> None:
    print(f"python {sys.version.split()[0]}, {COUNT} frames, best of {ROUNDS}")
    print("| payload | feed | huddle (int XOR) | huddle + aiohttp C mask | websockets.frames |")
    print("| --- | --- | --- | --- | --- |")
    for size in SIZES:
        one_each = client_frames(size)
        batched = [b"".join(one_each)]
        for label, chunks in (("one frame per read", one_each), ("all in one read", batched)):
            row = [
                measure(p, chunks, COUNT)
                for p in (huddle, huddle_with_aiohttp_mask, websockets_parser)
            ]
            cells = " | ".join(f"{us:.2f} µs" for us in row)
            print(f"| {len(one_each[0])} B | {label} | {cells} |")


if __name__ == "__main__":
    main()
