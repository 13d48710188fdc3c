"""Message ids and epochs: unique within a process and between processes."""

from chatserver.ids import IdSource


def test_ids_of_one_process_never_repeat() -> None:
    source = IdSource()
    made = [source.next() for _ in range(10_000)]
    assert len(set(made)) == len(made)
    assert all(0 < len(i) <= 64 for i in made)  # what a message reference accepts


def test_two_processes_make_different_ids() -> None:
    # Each process (source) draws its own prefix: the first ids of two workers differ.
    a, b = IdSource(), IdSource()
    assert {a.next() for _ in range(100)}.isdisjoint({b.next() for _ in range(100)})
