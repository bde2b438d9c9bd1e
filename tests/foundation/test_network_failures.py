"""An outage is one line saying what happens next; a bug keeps its traceback."""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path

import pytest

from src.app.supervisor import Supervisor
from src.exchange.errors import ExchangeUnavailable
from tests.foundation.helpers import make_ctx

pytestmark = pytest.mark.smoke  # deploy.sh runs these before every restart

FAST = {"supervisor": {"restart_backoff_initial_s": 0.01, "restart_backoff_max_s": 0.02,
                       "heartbeat_seconds": 0.05, "shutdown_timeout_s": 1.0}}


class Failing:
    def __init__(self, name: str, error: Exception, times: int = 3, from_dns: bool = True) -> None:
        self.name, self.error, self.times, self.calls, self.from_dns = name, error, times, 0, from_dns

    async def run(self) -> None:
        self.calls += 1
        if self.calls <= self.times and not self.from_dns:
            raise self.error
        if self.calls <= self.times:
            try:
                raise socket.gaierror(-2, "Name or service not known")
            except socket.gaierror as cause:
                raise self.error from cause
        await asyncio.Event().wait()


async def run_until(sup: Supervisor, component: Failing) -> None:
    task = asyncio.create_task(sup.run())
    for _ in range(500):
        if component.calls > component.times:
            break
        await asyncio.sleep(0.01)
    sup.request_stop()
    await asyncio.wait_for(task, 5)


async def test_an_outage_is_one_line_per_failure_without_traceback(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ctx = make_ctx(tmp_path, FAST)
    sup = Supervisor(ctx)
    feed = Failing("market_data", ExchangeUnavailable("ExchangeNotAvailable: binance GET https://x/exchangeInfo"))
    sup.add(feed)
    await run_until(sup, feed)
    mine = [r for r in caplog.records if r.name == "src.app.supervisor" and "market_data" in r.getMessage()
            and r.levelno >= logging.WARNING]
    assert len(mine) == feed.times
    assert all(r.exc_info is None for r in mine)
    assert all("cannot reach the network" in r.getMessage() and "retrying in" in r.getMessage() for r in mine)


async def test_a_bug_keeps_its_traceback(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    ctx = make_ctx(tmp_path, FAST)
    sup = Supervisor(ctx)
    buggy = Failing("strategy_runner", KeyError("typo"), times=1, from_dns=False)
    sup.add(buggy)
    await run_until(sup, buggy)
    crashed = [r for r in caplog.records if "strategy_runner crashed" in r.getMessage()]
    assert len(crashed) == 1
    assert crashed[0].exc_info is not None
