"""A settable wall clock plus a sleep that records and advances it, so backoffs cost no real time."""

from __future__ import annotations


class FakeTime:
    """Call it for "now" in epoch seconds; pass ``.sleep`` wherever code takes a sleep function."""

    def __init__(self, start_s: float = 1_750_000_000.0) -> None:
        self.now = start_s
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def now_ms(self) -> int:
        return int(self.now * 1000)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
