"""The first run: with no organiser key set and no passphrase chosen yet, a one-time setup
link (/organise/setup/<code>) for the run command to print. Its code is random and only
its hash is kept; each start makes a new one (the last printed link is the one that works)
until a passphrase is chosen."""

from __future__ import annotations

from chatserver.organise.credentials import code_hash, new_code
from chatserver.organise.store import OrganiserStore

PASSPHRASE = "passphrase"
SETUP = "setup"


async def first_run_setup(store: OrganiserStore) -> str | None:
    """The setup link's path, or None when a passphrase is chosen already."""
    if await store.credential_get(PASSPHRASE) is not None:
        return None
    return await new_setup_link(store)


async def new_setup_link(store: OrganiserStore) -> str:
    """A new one-time setup link's path (any earlier one stops working). Whoever opens it
    first chooses the passphrase, replacing any there is: ``huddle setup-link`` gives one
    to someone with the server's shell when the passphrase is lost."""
    code = new_code()
    await store.credential_set(SETUP, code_hash(code))
    return f"/organise/setup/{code}"
