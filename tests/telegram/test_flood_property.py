"""Property: whatever the mix of chats, the outbox never breaks the pacing and never reorders a chat."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from src.config.telegram import TelegramConfig
from src.telegram.outbox import Outbox, OutgoingMessage
from tests.fakes.fake_time import FakeTime

CFG = TelegramConfig(per_chat_interval_s=1.0, group_interval_s=3.0, global_per_second=30.0)


class RecordingTransport:
    """Stands in for the Bot API at the transport seam: notes (chat, text, time) of each send."""

    def __init__(self, clock: FakeTime) -> None:
        self.clock = clock
        self.sent: list[tuple[int, str, float]] = []

    async def send(self, msg: OutgoingMessage, photo: bytes | None) -> None:
        self.sent.append((msg.chat_id, msg.text, self.clock.now))


async def drain(outbox: Outbox, clock: FakeTime) -> None:
    for _ in range(10_000):
        delay = await outbox.send_once()
        if delay is None:
            return
        clock.now += delay
    raise AssertionError("the outbox never emptied")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([11, 12, 13, -100, -200]), min_size=1, max_size=60))
def test_pacing_and_order_hold_for_any_burst(tmp_path_factory, chats: list[int]) -> None:
    clock = FakeTime(start_s=100.0)  # small numbers: float spacing far below the tolerances
    outbox = Outbox(CFG, Path(tmp_path_factory.mktemp("ob")) / "outbox.json", monotonic=clock)
    transport = RecordingTransport(clock)
    outbox.attach(transport)
    for i, chat in enumerate(chats):
        outbox.enqueue(chat, f"m{i}")
    asyncio.run(drain(outbox, clock))
    assert sorted(t for _, t, _ in transport.sent) == sorted(f"m{i}" for i in range(len(chats)))
    times = [at for _, _, at in transport.sent]
    assert all(b - a >= 1 / CFG.global_per_second - 1e-9 for a, b in itertools.pairwise(times))
    for chat in set(chats):
        mine = [(text, at) for c, text, at in transport.sent if c == chat]
        assert [t for t, _ in mine] == [f"m{i}" for i, c in enumerate(chats) if c == chat]  # FIFO per chat
        gap = CFG.group_interval_s if chat < 0 else CFG.per_chat_interval_s
        assert all(b - a >= gap - 1e-9 for (_, a), (_, b) in itertools.pairwise(mine))
