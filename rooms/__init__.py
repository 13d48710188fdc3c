"""Pure room logic: the log, room state, permission rules, presence.

Nothing here does I/O or reads the clock: callers pass the current time in, and get
decisions and entries back (the same shape as websockets' sans-I/O protocol core).

May import: the standard library only (tests/test_layering.py checks it).
"""
