"""A bot process for the crash tests: streams real candles through runner → guards → paper engine.

Run as ``python -m tests.execution.crash_child ROOT [POINT:N]``. Every start is recovery: the
market cache is warmed, the execution stack is rebuilt from ``ROOT/state`` and ``ROOT/logs``, and
all bars are streamed again (bars the runner already handled are skipped by it). With
``POINT:N`` the process SIGKILLs itself at the N-th pass through one of the risky moments:

- ``write_ahead``: an intent was just journaled (the order's one fsync), nothing sent yet;
- ``ledger``: a fill line was just fsynced, the wallet summary not yet updated;
- ``book``: the venue has filled the order, the runner has not booked the position yet;
- ``booked``: the runner has just queued the rewrite of its summary (off the event loop, no fsync);
  the summary may still lag the journal, and the wallet summary lags the ledger.

The hooks only add a ``kill -9`` after the real method ran (or before, for ``book``); nothing
about the behaviour under test is replaced.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pandas as pd

from src.core.events import CandleClosed
from src.execution.runner import StrategyRunner
from src.orders.ledger import Ledger
from src.strategy.spec import family_spec
from tests.conftest import SHARED_DATA
from tests.execution.conftest import HOUR_MS, make_ctx
from tests.rig import build_ex as build_execution

WARM, BARS = 300, 300
RISK = {"max_position_fraction": 1.0, "max_total_exposure_fraction": 1.0, "max_strategy_allocation_fraction": 1.0,
        "cooldown_after_loss_minutes": 0, "max_consecutive_losses": 1000, "kelly_min_trades": 100_000,
        "daily_loss_limit_fraction": 1.0, "max_drawdown_fraction": 1.0, "stale_after_bars": 100}
PAPER = {"candle_spread_bps": 4, "candle_impact_bps": 0, "runner_window_bars": 300}


def spec_json() -> str:
    spec = family_spec("momentum", fast=6, slow=18, position_fraction=0.5, symbols=["BTC/USDT"], stop_atr=1.5,
                       partial_tp=[{"at_r": 1.0, "fraction": 0.4}], max_hold_bars=24, id="crash-mom")
    return spec.model_dump_json()


def candles() -> pd.DataFrame:
    frame = pd.read_csv(SHARED_DATA / "binance_BTC-USDT_1h.csv.gz")
    return frame[frame["timestamp"] >= 1_688_169_600_000].iloc[: WARM + BARS].reset_index(drop=True)


def arm(point: str, nth: int) -> None:
    """SIGKILL this process at the ``nth`` pass through ``point``."""
    count = {"n": 0}

    def hit() -> None:
        count["n"] += 1
        if count["n"] == nth:
            os.kill(os.getpid(), signal.SIGKILL)

    def after(cls: type, name: str, when=lambda *_a, **_k: True) -> None:
        real = getattr(cls, name)

        def wrapped(self, *a, **k):
            out = real(self, *a, **k)
            if when(self, *a, **k):
                hit()
            return out
        setattr(cls, name, wrapped)

    if point == "write_ahead":
        after(Ledger, "journal_intent")
    elif point == "ledger":
        after(Ledger, "append", lambda _self, **k: k.get("kind") == "fill")
    elif point == "booked":  # the summary rewrite was just queued (it may not be on disk yet)
        after(StrategyRunner, "_save_later", lambda self: not self.state.pending)
    elif point == "book":
        real_book = StrategyRunner._book

        def book(self, p, rec):
            hit()
            return real_book(self, p, rec)
        StrategyRunner._book = book  # type: ignore[method-assign]
    else:
        raise SystemExit(f"unknown crash point {point}")


async def main(root: Path) -> None:
    folder = root / "strategies" / "testing"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "crash-mom.json").write_text(spec_json())
    frame = candles()
    ctx = make_ctx(root, {"risk": RISK, "paper": PAPER})
    cache = ctx.services["market_cache"]
    rows = list(frame.itertuples(index=False))
    ex = build_execution(ctx)
    # like the replay feed's fast-forward: the cache holds every bar up to the last one handled
    handled = ex.runner.state.last_bar.get("BTC/USDT", -1)
    first = max(WARM, sum(1 for row in rows if int(row.timestamp) <= handled))
    for row in rows[:first]:
        cache.series("BTC/USDT").append(int(row.timestamp), row.open, row.high, row.low, row.close, row.volume)
    ctx.clock.advance_to(int(rows[first - 1].timestamp) + HOUR_MS)
    await ex.runner.recover()
    print("STREAMING", flush=True)
    for row in rows[first:]:
        ts = int(row.timestamp)
        cache.series("BTC/USDT").append(ts, row.open, row.high, row.low, row.close, row.volume)
        ctx.clock.advance_to(ts + HOUR_MS)
        await ex.runner.on_event(CandleClosed("BTC/USDT", "1h", ts, row.open, row.high, row.low, row.close,
                                              row.volume))
        print("BAR", flush=True)
    ex.flush()  # what the supervisor's shutdown does
    print("DONE", flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 2:
        point, _, nth = sys.argv[2].partition(":")
        arm(point, int(nth or 1))
    asyncio.run(main(Path(sys.argv[1])))
