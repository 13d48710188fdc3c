"""The import rules each package's docstring states, checked on the source: the pure layers
stay pure, and within chatserver/ the direction stays downwards."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STDLIB = sys.stdlib_module_names


def modules(package: str) -> Iterator[tuple[str, Path]]:
    for path in sorted((ROOT / package).rglob("*.py")):
        dotted = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        yield dotted.removesuffix(".__init__"), path


def imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (also inside functions)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def top(name: str) -> str:
    return name.split(".", 1)[0]


def test_the_packages_it_checks_exist() -> None:
    assert len(list(modules("rooms"))) >= 5
    assert len(list(modules("moderation"))) >= 10
    assert any(name == "chatserver.service.posting" for name, _ in modules("chatserver"))


THIRD_PARTY_ALLOWED = {
    "rooms": set(),
    "moderation": {"rooms", "ahocorasick", "phonenumbers"},
}
# Modules that would let a pure layer reach the network, other processes or the clock.
IO_MODULES = {"asyncio", "socket", "subprocess", "threading", "time", "urllib", "http", "sqlite3"}


@pytest.mark.parametrize("package", ["rooms", "moderation"])
def test_the_pure_layers_do_no_io(package: str) -> None:
    for name, path in modules(package):
        for imported in imports(path):
            root = top(imported)
            known = root in (package, "__future__") or root in STDLIB
            assert known or root in THIRD_PARTY_ALLOWED[package], f"{name} imports {imported}"
            assert root not in IO_MODULES, f"{name} imports {imported}: {package}/ stays pure"


def test_rooms_never_imports_moderation_or_chatserver() -> None:
    for name, path in modules("rooms"):
        assert not {top(i) for i in imports(path)} & {"moderation", "chatserver"}, name


def test_chatserver_layers_point_downwards() -> None:
    forbidden = {
        # a backend knows neither the service nor the transport
        "chatserver.memory_backend": ("chatserver.service", "chatserver.transport"),
        "chatserver.redis_backend": ("chatserver.service", "chatserver.transport"),
        "chatserver.sqlite_backend": ("chatserver.service", "chatserver.transport"),
        "chatserver.backend": ("chatserver.service", "chatserver.transport"),
        # the service never reaches up to the transport or down into a backend implementation
        "chatserver.service": (
            "chatserver.transport",
            "chatserver.memory_backend",
            "chatserver.redis_backend",
            "chatserver.sqlite_backend",
            "chatserver.app",
        ),
    }
    checked = 0
    for name, path in modules("chatserver"):
        for layer, banned in forbidden.items():
            if name == layer or name.startswith(layer + "."):
                checked += 1
                bad = sorted(i for i in imports(path) if i.startswith(banned))
                assert not bad, f"{name} imports {bad}"
    assert checked >= 10
