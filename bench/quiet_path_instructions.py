"""Instructions per message on a quiet worker's Redis path, counted by callgrind.

At a low message rate a worker handles one message per loop turn: nothing to batch, so
what each read and wake-up costs shows in full. This runs that path one message at a time
in one process — a command on the hot-path pipe (``CommandPipe``: PUBLISH of a log entry,
as the append script publishes it) and the entry received on the room's subscription
(`RedisBus`), delivered to a listener — and counts the process's instructions under
``valgrind --tool=callgrind`` for N and for 2N messages: the difference / N is the cost of
one message, start-up excluded. Instruction counts are repeatable on a shared machine,
where CPU time is not.

    .venv/bin/python bench/quiet_path_instructions.py [--messages 1000] [--root OTHER_CHECKOUT]

``--root`` imports chatserver from another checkout (a git worktree of main) to compare.
Starts a private redis-server on a free 127.0.0.1 port; needs valgrind.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The same private Redis as the append benchmark (bench/ is on sys.path as the script's folder;
# that module imports no chatserver, so --root still chooses which checkout is measured).
from append_pipe_bench import free_port, start_redis  # noqa: E402


async def messages_one_at_a_time(port: int, count: int) -> None:
    """The measured part (run under callgrind, in a child process)."""
    import msgpack

    from chatserver.redis_backend import RedisBackend, room_keys

    url = f"redis://127.0.0.1:{port}/0"
    backend = RedisBackend(url)
    await backend.start()
    delivered: asyncio.Future[None] | None = None

    def listener(_: object) -> None:
        if delivered is not None and not delivered.done():
            delivered.set_result(None)

    body = msgpack.packb(
        {"room": "bench", "id": "x" * 16, "ts": 1, "client_id": "",
         "user": {"id": "u", "name": "U", "role": "member"}, "text": "y" * 80}
    )  # fmt: skip
    try:
        last = await backend.subscribe("bench", listener)
        epoch = (await backend.read("bench", None, 0)).epoch.encode()
        channel = room_keys("bench")["channel"]
        pipe = backend._pipe
        assert pipe is not None
        loop = asyncio.get_running_loop()
        for offset in range(last + 1, last + 1 + count):
            delivered = loop.create_future()
            frame = b"L" + epoch + b"\n" + str(offset).encode() + b"\nmessage\n" + body
            await pipe.execute("PUBLISH", channel, frame)
            await delivered
    finally:
        await backend.close()


def child(port: int, count: int, root: Path) -> None:
    sys.path.insert(0, str(root.resolve()))
    import uvloop

    uvloop.run(messages_one_at_a_time(port, count))


def instructions(port: int, count: int, root: Path) -> int:
    command = [
        "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
        sys.executable, __file__, "--child", str(port), "--messages", str(count),
        "--root", str(root),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"callgrind run failed:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--root", type=Path, default=ROOT)
    parser.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not 10 <= args.messages <= 100_000:
        parser.error("--messages 10..100,000")
    if args.child:
        child(args.child, args.messages, args.root)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed")
    with tempfile.TemporaryDirectory() as workdir:
        port = free_port()
        redis = start_redis(port, workdir)
        try:
            n = args.messages
            one, two = instructions(port, n, args.root), instructions(port, 2 * n, args.root)
        finally:
            redis.terminate()
            redis.wait(10)
    print(f"chatserver from {args.root}")
    print(f"{(two - one) / n:,.0f} instructions per message (pipe command + subscription read)")


if __name__ == "__main__":
    main()
