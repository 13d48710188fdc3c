"""The compiled moderation lists kept between worker starts (chatserver/lexicon_cache.py)."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from chatserver.lexicon_cache import PREFIX, SUFFIX, compiled_lexicon, shipped_lexicon
from moderation.lexicon import Lexicon
from moderation.scanning import Scanner

pytestmark = pytest.mark.transport_independent

CRISIS = "honestly i just want to die tonight"
# A few lines of the shipped format (compiling every shipped list takes seconds; the
# worker's start-up path, with every list, is what the integration tests start).
SOURCES = {
    "crisis": "[suicidal subject]\n{want|wanna} to {just |}die\n[hopeless]\nno way out\n",
    "swearing": "[mild]\nbloody\n",
}


def found(lexicon: Lexicon, text: str) -> list[str]:
    """The lists' findings in a message, as rule ids (what the stages act on)."""
    scan = Scanner(lexicon).scan(text)
    return sorted({f"{hit.entry.list}.{hit.entry.section}" for hit in scan.hits})


def cached_files(directory: Path) -> list[Path]:
    return sorted(directory.glob(f"{PREFIX}*{SUFFIX}"))


def test_a_second_start_reads_the_lists_compiled_by_the_first(tmp_path: Path) -> None:
    directory = tmp_path / "cache"
    first = compiled_lexicon(directory, SOURCES)
    [stored] = cached_files(directory)
    assert directory.stat().st_mode & 0o777 == 0o700
    second = compiled_lexicon(directory, SOURCES)
    assert second is not first  # read back from the file, not this process's copy
    # The lists judge the same from the cache as compiled.
    assert found(second, CRISIS) == found(first, CRISIS) != []
    assert cached_files(directory) == [stored]


def test_a_changed_input_is_a_new_file_and_the_old_one_goes(tmp_path: Path) -> None:
    directory = tmp_path / "cache"
    compiled_lexicon(directory, SOURCES)
    [stored] = cached_files(directory)
    stale = directory / f"{PREFIX}{'0' * 32}{SUFFIX}"
    stored.rename(stale)  # as if the lists or the code had changed since
    compiled_lexicon(directory, SOURCES)
    [fresh] = cached_files(directory)
    assert fresh.name == stored.name and not stale.exists()


def test_a_file_others_can_write_or_a_foreign_pickle_is_compiled_over(tmp_path: Path) -> None:
    directory = tmp_path / "cache"
    compiled_lexicon(directory, SOURCES)
    [stored] = cached_files(directory)
    # Not a Lexicon: never used.
    stored.write_bytes(pickle.dumps({"not": "a lexicon"}))
    again = compiled_lexicon(directory, SOURCES)
    assert isinstance(again, Lexicon) and found(again, CRISIS) != []
    # Truncated: compiled over, and the file is whole again.
    stored.write_bytes(stored.read_bytes()[:100])
    assert isinstance(compiled_lexicon(directory, SOURCES), Lexicon)
    assert isinstance(pickle.loads(stored.read_bytes()), Lexicon)
    # Writable by others: ignored (a pickle runs code when loaded).
    os.chmod(stored, 0o666)
    marker = {"planted": True}
    stored.write_bytes(pickle.dumps(marker))
    assert isinstance(compiled_lexicon(directory, SOURCES), Lexicon)


def test_a_directory_others_can_write_to_is_not_used(tmp_path: Path) -> None:
    directory = tmp_path / "shared"
    directory.mkdir(mode=0o777)
    os.chmod(directory, 0o777)
    lexicon = compiled_lexicon(directory, SOURCES)
    assert isinstance(lexicon, Lexicon)
    assert cached_files(directory) == []


def test_no_cache_directory_compiles_every_time(tmp_path: Path) -> None:
    assert found(compiled_lexicon(None, SOURCES), CRISIS) != []


def test_the_apps_of_one_process_share_one_copy_of_the_shipped_lists() -> None:
    # Each copy is tens of megabytes: the test suite starts hundreds of apps in one process.
    assert shipped_lexicon(None) is shipped_lexicon(None)
