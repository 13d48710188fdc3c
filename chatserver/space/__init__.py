"""The group space: what a support group keeps between sessions (DESIGN §7).

Personal goals with their answers, wins kept on the wall with their authors' consent, the
resource shelf and the next session's time. Unlike the room's log it never expires with
the room: a durable store (``store.GroupSpace``) with two implementations, a SQLite file
for the embedded default (``sqlite_space``) and Redis keys without a TTL
(``redis_space``), held to one contract suite (tests/contract/test_space_contract.py).

This package may import rooms/, moderation/ (the link rules), chatserver.backend (people
and payload types), chatserver.errors and chatserver.schema; the service imports it.
"""
