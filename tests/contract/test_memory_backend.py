"""What the embedded backend keeps beyond the shared contract
(tests/contract/test_backend_contract.py)."""

from __future__ import annotations

from chatserver.backend import PostGuard, SharedRaid
from chatserver.memory_backend import MemoryBackend
from tests.contract.test_backend_contract import NOW, msg


async def test_raid_memory_forgets_texts_whose_window_has_passed() -> None:
    """A busy room sends thousands of different messages: only the last window's texts are
    remembered, so each message costs the same however long the meeting runs."""
    backend = MemoryBackend()
    await backend.start()
    try:
        for i in range(2000):
            raid = SharedRaid(f"text-{i}", window_ms=30_000, members=3)
            entry = msg(f"message {i}")
            guard = PostGuard("alex", "member", raid=raid)
            await backend.append("r1", entry, guard=guard, now_ms=NOW + i * 100)
        remembered = len(backend._room("r1").raids)
        assert 295 <= remembered <= 301  # 30 s of messages 0.1 s apart
    finally:
        await backend.close()
