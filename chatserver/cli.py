"""Command line: ``huddle serve`` runs a worker, ``huddle token`` signs an access token."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import secrets
import sys
import time
from collections.abc import Sequence
from dataclasses import replace

from aiohttp import web

from chatserver.auth import MAX_NAME_LENGTH, ROOM_ID, issue_token
from chatserver.config import ConfigError, Settings

# aiohttp's default listen backlog (128) drops connections in a reconnect storm.
LISTEN_BACKLOG = 2048
GC_YOUNG_THRESHOLD = 10_000
DEMO_TTL_S = 12 * 3600


def _role_arg(raw: str) -> tuple[str, str]:
    room, sep, role = raw.partition("=")
    if not sep or not room or role not in ("member", "facilitator"):
        raise argparse.ArgumentTypeError(f"expected ROOM=member or ROOM=facilitator, got {raw!r}")
    if not ROOM_ID.fullmatch(room):
        raise argparse.ArgumentTypeError(
            f"room id {room!r} must be 1-64 letters, digits or _ . : -, "
            "starting with a letter or digit"
        )
    return room, role


def _name_arg(raw: str) -> str:
    name = raw.strip()
    if not name or len(name) > MAX_NAME_LENGTH or not name.isprintable():
        raise argparse.ArgumentTypeError(f"name must be 1-{MAX_NAME_LENGTH} printable characters")
    return name


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="huddle", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run a worker (settings from HUDDLE_* variables)")
    serve.add_argument("--host", help="address to listen on (default HUDDLE_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default HUDDLE_PORT or 8080)")
    token = sub.add_parser("token", help="print an access token signed with HUDDLE_SECRET")
    token.add_argument("--user", required=True, help="user id (the token's sub)")
    token.add_argument("--name", required=True, type=_name_arg, help="display name (a pseudonym)")
    token.add_argument(
        "--room",
        required=True,
        action="append",
        type=_role_arg,
        metavar="ROOM=ROLE",
        help="room and role, member or facilitator (repeatable)",
    )
    token.add_argument("--ttl", type=int, default=3600, help="seconds the token is valid (3600)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"huddle: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "token":
        return _token(settings, args)
    return _serve(settings, args)


def _token(settings: Settings, args: argparse.Namespace) -> int:
    if settings.secret is None:
        print("huddle: HUDDLE_SECRET must be set to sign tokens", file=sys.stderr)
        return 2
    if args.ttl <= 0:
        print("huddle: --ttl must be positive", file=sys.stderr)
        return 2
    print(
        issue_token(
            settings.secret,
            user_id=args.user,
            name=args.name,
            rooms=dict(args.room),
            now=int(time.time()),
            ttl_s=args.ttl,
        )
    )
    return 0


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from chatserver.app import create_app

    if args.host is not None:
        settings = replace(settings, host=args.host)
    if args.port is not None:
        if not 0 <= args.port <= 65535:
            print(f"huddle: --port must be between 0 and 65535, got {args.port}", file=sys.stderr)
            return 2
        settings = replace(settings, port=args.port)
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    demo = settings.secret is None
    if demo:
        settings = replace(settings, secret=secrets.token_urlsafe(48))
    app = create_app(settings)

    async def announce(app: web.Application) -> None:
        base = f"http://{_display_host(settings.host)}:{settings.port}"
        backend = "redis" if settings.redis_url else "memory"
        print(f"huddle: serving on {base} with the {backend} backend", flush=True)
        if demo:
            assert settings.secret is not None
            now = int(time.time())
            room = settings.demo_room
            links = [
                ("facilitator", "fac-demo", "Sam (facilitator)"),
                ("member", "member-demo", "Alex"),
            ]
            print("huddle: no HUDDLE_SECRET set, so this run made its own; demo links:", flush=True)
            for role, user, name in links:
                tok = issue_token(
                    settings.secret,
                    user_id=user,
                    name=name,
                    rooms={room: role},
                    now=now,
                    ttl_s=DEMO_TTL_S,
                )
                print(f"  {role:<12} {base}/#room={room}&token={tok}", flush=True)

    app.on_startup.append(announce)

    async def freeze_startup_objects(app: web.Application) -> None:
        # Everything built at start-up (word lists, automata, modules) lives for the whole
        # run: keep it out of the garbage collector's scans, whose full passes otherwise
        # stall the worker for hundreds of milliseconds.
        gc.collect()
        gc.freeze()
        # A young collection every 10,000 net allocations instead of 700: a busy worker's
        # objects mostly die young anyway, and full collections (10-27 ms pauses, twice per
        # 20 s at 40,000 deliveries/s) stop coming within a run; worst latency 64-85 ->
        # 40-64 ms (docs/benchmarks.md, --gc-log).
        gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])

    app.on_startup.append(freeze_startup_objects)
    web.run_app(
        app,
        loop=new_event_loop(settings.event_loop),
        host=settings.host,
        port=settings.port,
        backlog=LISTEN_BACKLOG,
        print=None,
        shutdown_timeout=settings.drain_timeout_s,
        access_log=None,
    )
    return 0


def new_event_loop(kind: str) -> asyncio.AbstractEventLoop:
    """The worker's event loop: uvloop by default (measured in docs/benchmarks.md: the
    loop, its timers and socket writes were the largest share of a busy worker's time)."""
    if kind == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def _display_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "") else host


if __name__ == "__main__":
    raise SystemExit(main())
