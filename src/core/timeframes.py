"""Timeframe strings (``1m``, ``4h``, ``1d``) and ISO dates as epoch milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime

_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def timeframe_ms(timeframe: str) -> int:
    """``"1h"`` → 3_600_000; raises ValueError naming the bad value."""
    try:
        n, unit = int(timeframe[:-1]), timeframe[-1]
        if n <= 0 or unit not in _UNIT_MS:
            raise ValueError
    except (ValueError, IndexError):
        raise ValueError(f"bad timeframe '{timeframe}': use a number and one of m, h, d, w (e.g. 1h)") from None
    return n * _UNIT_MS[unit]


def parse_iso_ms(text: str) -> int:
    """``2024-01-01`` or ``2024-01-01T00:00:00Z`` → UTC epoch ms."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def fmt_ms(ts_ms: int) -> str:
    """Epoch ms → ``2024-01-01 13:00`` (UTC) for humans."""
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")
