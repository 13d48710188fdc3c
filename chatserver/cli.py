"""Command line: ``serve`` runs a worker; ``link`` prints a ready link to a room for one
person; ``token`` prints the bare access token (for another system to wrap);
``setup-link`` prints a one-time link to choose the organiser console's passphrase.

With no ``HUDDLE_SECRET`` set, all three use a demo secret kept in ``HUDDLE_DATA_DIR``
(made by the first ``serve``), so links made in another terminal work with a demo run.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import ipaddress
import logging
import os
import secrets
import sqlite3
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

from aiohttp import web

from chatserver.auth import MAX_NAME_LENGTH, ROOM_ID, issue_token
from chatserver.config import ConfigError, Settings
from chatserver.sqlite_backend import ROOMS_FILE

# aiohttp's default listen backlog (128) drops connections in a reconnect storm.
LISTEN_BACKLOG = 2048
GC_YOUNG_THRESHOLD = 10_000
DEMO_TTL_S = 12 * 3600
LINK_TTL_S = 12 * 3600
DEMO_SECRET_FILE = "demo-secret"
LINK_HINT = "./scripts/huddle link --name NAME --room ROOM [--role facilitator]"


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
    link = sub.add_parser(
        "link",
        help="print a ready link to a room for one person",
        description="Print the link one person opens to join a room: the web client's "
        "address with a signed access token in its fragment.",
    )
    link.add_argument("--name", required=True, type=_name_arg, help="display name (a pseudonym)")
    link.add_argument("--room", help="room id (default HUDDLE_DEMO_ROOM, demo)")
    link.add_argument("--role", choices=("member", "facilitator"), default="member")
    link.add_argument(
        "--user",
        help="user id; default: a new one per link (give one person the same id on every link)",
    )
    link.add_argument(
        "--base",
        help="the server's address as people reach it (default http://HUDDLE_HOST:HUDDLE_PORT)",
    )
    link.add_argument("--ttl", type=int, default=LINK_TTL_S, help="seconds the link is valid")
    setup = sub.add_parser(
        "setup-link",
        help="print a one-time link to choose the organiser passphrase (also to replace one)",
        description="Print a new one-time link to the organiser console's setup page. "
        "Whoever opens it first chooses the organiser passphrase, replacing any there is; "
        "an earlier setup link stops working.",
    )
    setup.add_argument(
        "--base",
        help="the server's address as people reach it (default http://HUDDLE_HOST:HUDDLE_PORT)",
    )
    token = sub.add_parser("token", help="print an access token (for another system to use)")
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
    backup = sub.add_parser(
        "backup",
        help="copy the embedded store's SQLite files to a directory (safe while serving)",
        description="Copy every SQLite file in HUDDLE_DATA_DIR (rooms, group space) to DIR "
        "with SQLite's online backup: a consistent copy, taken while the server runs. "
        "Restore: stop the server, put the copies in HUDDLE_DATA_DIR, start it "
        "(docs/operations.md).",
    )
    backup.add_argument("dir", type=Path, help="where the copies go (made if missing)")
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
    if args.command == "link":
        return _link(settings, args)
    if args.command == "setup-link":
        return _setup_link(settings, args)
    if args.command == "backup":
        return _backup(settings, args.dir)
    return _serve(settings, args)


def _backup(settings: Settings, target: Path) -> int:
    sources = sorted(Path(settings.data_dir).glob("*.sqlite3"))
    if not sources:
        print(f"huddle: no SQLite files in {settings.data_dir} to back up", file=sys.stderr)
        return 1
    target.mkdir(parents=True, exist_ok=True)
    for source in sources:
        copy = target / source.name
        # Read-only on the live file; the backup API copies one consistent snapshot even
        # while the server commits (WAL: the server's writes are not held up).
        src = sqlite3.connect(f"{source.as_uri()}?mode=ro", uri=True)
        dst = sqlite3.connect(copy)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
        print(f"huddle: {source} -> {copy}", flush=True)
    return 0


def demo_secret_path(settings: Settings) -> Path:
    return Path(settings.data_dir) / DEMO_SECRET_FILE


def _signing_secret(settings: Settings) -> str | None:
    """HUDDLE_SECRET, else the demo secret a ``serve`` run left; None if neither exists."""
    if settings.secret is not None:
        return settings.secret
    try:
        return demo_secret_path(settings).read_text().strip() or None
    except OSError:
        return None


def _no_secret_message(settings: Settings) -> str:
    return (
        "huddle: HUDDLE_SECRET must be set to sign tokens (or start the server once "
        f"without it, which keeps a demo secret in {demo_secret_path(settings)})"
    )


def _load_or_make_demo_secret(settings: Settings) -> str:
    existing = _signing_secret(settings)
    if existing is not None:
        return existing
    path = demo_secret_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    made = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(made + "\n")
    return made


def _secret_for_signing(settings: Settings, args: argparse.Namespace) -> str | None:
    """The secret ``token`` and ``link`` sign with; None (with the reason printed) when
    there is none or the request cannot be signed."""
    secret = _signing_secret(settings)
    if secret is None:
        print(_no_secret_message(settings), file=sys.stderr)
        return None
    if args.ttl <= 0:
        print("huddle: --ttl must be positive", file=sys.stderr)
        return None
    return secret


def _token(settings: Settings, args: argparse.Namespace) -> int:
    secret = _secret_for_signing(settings, args)
    if secret is None:
        return 2
    print(
        issue_token(
            secret,
            user_id=args.user,
            name=args.name,
            rooms=dict(args.room),
            now=int(time.time()),
            ttl_s=args.ttl,
        )
    )
    return 0


def room_link(base: str, room: str, token: str) -> str:
    """The address a person opens: the client reads room and token from the fragment,
    which browsers never send to a server, and then takes them out of the address bar."""
    return f"{base.rstrip('/')}/#room={quote(room, safe='')}&token={token}"


def _link(settings: Settings, args: argparse.Namespace) -> int:
    secret = _secret_for_signing(settings, args)
    if secret is None:
        return 2
    room = args.room if args.room is not None else settings.demo_room
    try:
        _role_arg(f"{room}={args.role}")
    except argparse.ArgumentTypeError as exc:
        print(f"huddle: --room: {exc}", file=sys.stderr)
        return 2
    user = args.user or f"{args.role[0]}-{secrets.token_hex(6)}"
    base = args.base or _base_url(settings.host, settings.port)
    tok = issue_token(
        secret,
        user_id=user,
        name=args.name,
        rooms={room: args.role},
        now=int(time.time()),
        ttl_s=args.ttl,
    )
    print(room_link(base, room, tok))
    hours = args.ttl / 3600
    print(
        f"huddle: {args.name} ({args.role}, user {user}) in room {room}; valid for {hours:g} h",
        file=sys.stderr,
    )
    return 0


def _setup_link(settings: Settings, args: argparse.Namespace) -> int:
    from chatserver.app import make_organiser_store
    from chatserver.organise.setup import new_setup_link

    async def make() -> str:
        store = make_organiser_store(settings)
        try:
            return await new_setup_link(store)
        finally:
            await store.close()

    try:
        path = asyncio.run(make())
    except (OSError, ConnectionError) as exc:
        print(f"huddle: cannot reach the organiser's store: {exc}", file=sys.stderr)
        return 2
    base = args.base or _base_url(settings.host, settings.port)
    print(f"{base.rstrip('/')}{path}")
    print(
        "huddle: whoever opens this link first chooses the organiser passphrase (replacing "
        "any there is); it works once",
        file=sys.stderr,
    )
    return 0


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from chatserver.app import SETUP_LINK_KEY, create_app

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
        try:
            settings = replace(settings, secret=_load_or_make_demo_secret(settings))
        except OSError as exc:
            print(
                f"huddle: cannot keep a demo secret in {settings.data_dir}: {exc}", file=sys.stderr
            )
            return 2
    app = create_app(settings)

    async def announce(app: web.Application) -> None:
        base = _base_url(settings.host, settings.port)
        print(f"huddle: serving on {base} with {_backend_words(settings)}", flush=True)
        print(f"huddle: the organiser console is at {base}/organise", flush=True)
        setup_path = app.get(SETUP_LINK_KEY)
        if setup_path is not None:
            print(
                f"huddle: first run: choose the organiser passphrase at {base}{setup_path} "
                "(a one-time link; or set HUDDLE_ORGANISER_KEY)",
                flush=True,
            )
        for line in startup_notes(settings, demo=demo, now=int(time.time())):
            print(line, flush=True)

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


def _base_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def startup_notes(settings: Settings, *, demo: bool, now: int) -> list[str]:
    """What a person starting the server needs next: ready links for the demo room when
    they are safe to print, and how to make more.

    Links carry a credential, so they are printed only for a demo secret or a server on
    loopback (someone trying huddle on their machine), never into a public server's log."""
    assert settings.secret is not None
    notes: list[str] = []
    base = _base_url(settings.host, settings.port)
    if demo:
        notes.append(
            "huddle: no HUDDLE_SECRET set, so links are signed with a demo secret kept in "
            f"{demo_secret_path(settings)} (fine on your own machine; set HUDDLE_SECRET "
            "for a real group)"
        )
    if demo or _is_loopback(settings.host):
        room = settings.demo_room
        notes.append(f"huddle: ready links for room {room!r} (open each in its own browser tab):")
        people = [
            ("facilitator", "fac-demo", "Sam (facilitator)"),
            ("member", "member-demo", "Alex"),
        ]
        for role, user, name in people:
            tok = issue_token(
                settings.secret,
                user_id=user,
                name=name,
                rooms={room: role},
                now=now,
                ttl_s=DEMO_TTL_S,
            )
            notes.append(f"  {role:<12} {room_link(base, room, tok)}")
    notes.append(f"huddle: more links for people: {LINK_HINT}")
    return notes


if __name__ == "__main__":
    raise SystemExit(main())


def _backend_words(settings: Settings) -> str:
    """Which backend serves, and where the embedded one keeps the rooms."""
    if settings.redis_cluster:
        return "the Redis Cluster backend"
    if settings.redis_url:
        return "the redis backend"
    if settings.embedded_store == "memory":
        return "the embedded backend in memory (nothing is kept when it stops)"
    return f"the embedded backend (rooms kept in {Path(settings.data_dir) / ROOMS_FILE})"
