"""The moderation lists compiled once per machine instead of once per worker start.

Compiling every shipped list (moderation/lexicon.py: tens of thousands of phrase forms into
one automaton) is most of a worker's start-up time, and a worker that restarts after a
crash, or one of several started together, should be serving in about a second. The
compiled `Lexicon` is kept as a pickle in the cache directory, under a name made from a
digest of everything it was compiled from: the list files, the moderation code that
compiles them, the Python version and the automaton library's version. A change to any of
them is a different file; an old one is removed when a new one is written.

A pickle runs code when loaded, so one is read only from a directory that belongs to this
user and nobody else can write to (created 0700), from a file only this user can write;
anything else is ignored and the lists are compiled as before. A file that cannot be read
or is not a `Lexicon` is compiled over, never trusted.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import os
import pickle
import stat
import sys
import tempfile
from collections.abc import Callable
from functools import cache
from importlib import resources
from pathlib import Path

from moderation.lexicon import Lexicon, default_sources

log = logging.getLogger(__name__)

PREFIX = "lexicon-"
SUFFIX = ".pickle"


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/huddle, or ~/.cache/huddle."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "huddle"


def digest(sources: dict[str, str]) -> str:
    """What a compiled lexicon depends on, as one hex digest."""
    h = hashlib.sha256()
    for name, text in sorted(sources.items()):
        h.update(f"list {name} {len(text)}\n".encode())
        h.update(text.encode("utf-8"))
    code = resources.files("moderation")
    for entry in sorted(code.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".py"):
            h.update(f"code {entry.name}\n".encode())
            h.update(entry.read_bytes())
    h.update(sys.version.encode())
    h.update(importlib.metadata.version("pyahocorasick").encode())
    return h.hexdigest()[:32]


def _private(path: Path, is_kind: Callable[[int], bool]) -> bool:
    """Of this kind (``stat.S_ISDIR``, ``stat.S_ISREG``; a link is neither), ours, and
    nobody else can write to it."""
    try:
        info = path.lstat()
    except OSError:
        return False
    return (
        is_kind(info.st_mode)
        and info.st_uid == os.geteuid()
        and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )


def _load(path: Path) -> Lexicon | None:
    if not (_private(path.parent, stat.S_ISDIR) and _private(path, stat.S_ISREG)):
        return None
    try:
        with path.open("rb") as f:
            # Our own file, in a directory only we can write to (checked above).
            found = pickle.load(f)
    except Exception as exc:  # a truncated or foreign file: compile over it
        log.warning("moderation lists: cached copy %s unreadable (%s); compiling", path, exc)
        return None
    return found if isinstance(found, Lexicon) else None


def _store(directory: Path, path: Path, lexicon: Lexicon) -> None:
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _private(directory, stat.S_ISDIR):
            log.warning("moderation lists: %s is not private to this user; not cached", directory)
            return
        # Written aside, then renamed: a worker starting at the same moment reads either
        # no file or a whole one.
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".lexicon-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump(lexicon, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        for old in directory.glob(f"{PREFIX}*{SUFFIX}"):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError as exc:  # a read-only home, a full disk: serve without the cache
        log.warning("moderation lists: could not cache them in %s (%s)", directory, exc)


def compiled_lexicon(directory: Path | None, sources: dict[str, str] | None = None) -> Lexicon:
    """The lists compiled (``sources``, by default every list shipped): from the cache in
    ``directory`` when it holds them, else compiled and stored there. ``directory`` None:
    no cache (compiled every time)."""
    sources = default_sources() if sources is None else sources
    if directory is None:
        return Lexicon(sources)
    path = directory / f"{PREFIX}{digest(sources)}{SUFFIX}"
    found = _load(path)
    if found is not None:
        return found
    lexicon = Lexicon(sources)
    _store(directory, path, lexicon)
    return lexicon


@cache
def shipped_lexicon(directory: Path | None) -> Lexicon:
    """Every shipped list compiled, once per process: the apps of one process (the tests
    start many) share it, as they share `default_lexicon`, instead of each reading its
    own copy of the tens of megabytes it takes."""
    return compiled_lexicon(directory)
