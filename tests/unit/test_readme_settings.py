"""The README's settings table lists every setting the server reads, and nothing else."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from chatserver.config import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_setting_is_in_the_readme_table_and_every_row_is_a_setting() -> None:
    rows = re.findall(r"^\| `([A-Z_]+)`(?: or `([A-Z_]+)`| / `([A-Z_]+)`)? \|", README, re.M)
    listed = {name for row in rows for name in row if name}
    settings = {f"HUDDLE_{f.name.upper()}" for f in fields(Settings)}
    aliases = {"REDIS_URL"}  # read when HUDDLE_REDIS_URL is not set
    assert len(settings) >= 20
    assert settings - listed == set(), "settings missing from the README's table"
    assert listed - settings - aliases == set(), "README rows that are not settings"
