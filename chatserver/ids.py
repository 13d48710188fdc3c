"""Unique ids for messages and epochs, without a system call each.

secrets.token_hex reads the OS random source on every call: two reads per message on the
hot path (the message id, and the epoch a new room would get). Ids only have to be unique,
not secret (every action on a message id is checked against the actor's role), so each
process draws a random prefix once and counts: 48 random bits tell processes apart, the
counter tells this process's ids apart.
"""

import itertools
import secrets


class IdSource:
    def __init__(self) -> None:
        self._prefix = secrets.token_hex(6)
        self._counter = itertools.count(1)

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter):x}"


ids = IdSource()
"""The process's id source (one prefix per process)."""
