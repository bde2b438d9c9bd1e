"""Clocks: market time comes from the feed in replay, from the wall in paper/live.

Components ask the clock, never ``time.time()``, so a replay at 3600x speed and a unit test on a
fake clock see the same logic as a live run.
"""

from __future__ import annotations

import time


class Clock:
    """Wall-clock time in UTC epoch milliseconds."""

    def now_ms(self) -> int:
        return int(time.time() * 1000)


class MarketClock(Clock):
    """A clock advanced by the replay feed: 'now' is the close time of the latest candle."""

    def __init__(self, start_ms: int = 0) -> None:
        self._now_ms = start_ms

    def advance_to(self, ts_ms: int) -> None:
        """Move time forward; never backwards (a late event must not rewind the bot)."""
        if ts_ms > self._now_ms:
            self._now_ms = ts_ms

    def now_ms(self) -> int:
        return self._now_ms


class ScaledClock(Clock):
    """Testnet only: wall time run ``speed`` times faster from a fixed ``anchor_ms``.

    A soak on a fake exchange lives through days of candles in minutes. The anchor is fixed (not
    the start of this process) so a bot killed and restarted continues the same market time and
    never sees it run backwards.
    """

    def __init__(self, speed: float, anchor_ms: int) -> None:
        self.speed, self.anchor_ms = speed, anchor_ms

    def now_ms(self) -> int:
        return self.anchor_ms + int((time.time() * 1000 - self.anchor_ms) * self.speed)
