"""What a task woken through an asyncio StreamReader costs per read, next to handling the
bytes in a Protocol's data_received: the Redis subscription and command pipe read the
first way, the websocket connections the second.

One process, one loopback TCP connection on uvloop: the writer sends N small frames one
loop turn apart (as a quiet worker hears one published message at a time); the reader
either feeds a StreamReader that a task reads (``stream``) or takes the bytes in
``data_received`` (``protocol``). Prints the process's CPU per frame (both ends; the
writer's part is the same for both), best of rounds.

    .venv/bin/python bench/wakeup_bench.py [--frames 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import uvloop

FRAME = b"*3\r\n$7\r\nmessage\r\n$14\r\nhuddle:{room1}\r\n$120\r\n" + b"x" * 120 + b"\r\n"


class Counting(asyncio.Protocol):
    def __init__(self, done: asyncio.Future[None], frames: int) -> None:
        self.done = done
        self.left = frames * len(FRAME)

    def data_received(self, data: bytes) -> None:
        self.left -= len(data)
        if self.left <= 0 and not self.done.done():
            self.done.set_result(None)


async def one_round(kind: str, frames: int) -> float:
    loop = asyncio.get_running_loop()
    accepted: asyncio.Future[asyncio.StreamWriter] = loop.create_future()
    done: asyncio.Future[None] = loop.create_future()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set_result(writer)
        await done  # the connection lives while this callback does

    server = await asyncio.start_server(on_client, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    if kind == "stream":
        reader, client_writer = await asyncio.open_connection("127.0.0.1", port)

        async def pump() -> None:
            left = frames * len(FRAME)
            while left > 0:
                data = await reader.read(1 << 18)
                if not data:
                    break
                left -= len(data)
            done.set_result(None)

        task = loop.create_task(pump())
        client = client_writer.transport  # kept: a collected StreamWriter closes it
    else:
        client, _ = await loop.create_connection(lambda: Counting(done, frames), "127.0.0.1", port)
        task = None
    writer = await accepted
    started = time.process_time()
    for _ in range(frames):
        writer.write(FRAME)
        await asyncio.sleep(0)  # one frame per loop turn
        await asyncio.sleep(0)
    await asyncio.wait_for(asyncio.shield(done), 30)
    cpu = time.process_time() - started
    writer.close()
    if client is not None:
        client.close()
    if task is not None:
        task.cancel()
    server.close()
    await server.wait_closed()
    return cpu / frames * 1e6


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--frames", type=int, default=20000)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()

    async def run() -> None:
        best = {"stream": float("inf"), "protocol": float("inf")}
        for _ in range(args.rounds):
            for kind in best:  # alternated, so a busy moment hits both
                best[kind] = min(best[kind], await one_round(kind, args.frames))
        for kind, us in best.items():
            print(f"{kind:9s} {us:.2f} us CPU per frame (both ends, best of {args.rounds})")

    uvloop.run(run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
