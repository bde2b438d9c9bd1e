"""The console status line: throttled by wall-clock time, immediate on a change of run state."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from src.app.status_line import StatusLine
from src.core.events import CandleClosed
from src.market.cache import MarketCache
from src.state.control import Controller
from tests.rig import RigView
from tests.telegram.conftest import make_ctx

pytestmark = pytest.mark.smoke  # deploy.sh runs these before every restart

HOUR_MS = 3_600_000


class Wall:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_one_line_per_interval_and_one_per_state_change(tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="status")
    ctx = make_ctx(tmp_path)
    control = Controller(ctx.store)
    ctx.services["control"] = control
    wall = Wall()
    line = StatusLine(ctx, MarketCache("1h"), RigView(ctx), every_s=30.0, monotonic=wall)  # type: ignore[arg-type]
    hours = 240
    for hour in range(hours):  # ten market hours per wall second, like --speed 36000
        if hour == 100:
            control.pause("test", "why not")
        if hour == 101:
            control.resume("test")
        for symbol in ("BTC/USDT", "ETH/USDT"):
            await line.on_event(CandleClosed(symbol, "1h", hour * HOUR_MS, 1, 1, 1, 1, 1))
        wall.now += 0.1
    printed = [r for r in caplog.records if r.name == "status"]
    wall_s = hours * 0.1
    assert line.lines == len(printed)
    assert len(printed) <= wall_s / 30 + 1 + 2  # the interval, the first line, pause and resume
    assert sum("paused" in r.getMessage() for r in printed) == 1
    assert len(printed) >= 3


async def test_every_market_hour_when_the_market_is_slow(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    ctx.services["control"] = Controller(ctx.store)
    wall = Wall()
    line = StatusLine(ctx, MarketCache("1h"), RigView(ctx), every_s=30.0, monotonic=wall)  # type: ignore[arg-type]
    for hour in range(5):  # live: an hour of market time is an hour of wall time
        await line.on_event(CandleClosed("BTC/USDT", "1h", hour * HOUR_MS, 1, 1, 1, 1, 1))
        await line.on_event(CandleClosed("ETH/USDT", "1h", hour * HOUR_MS, 1, 1, 1, 1, 1))
        wall.now += 3600
    assert line.lines == 5


def test_quiet_keeps_warnings_only_on_the_console() -> None:
    from src.app.main import config_overrides, parse_args

    assert config_overrides(parse_args(["--quiet"]))["logging.level"] == "WARNING"
    assert "logging.level" not in config_overrides(parse_args([]))
