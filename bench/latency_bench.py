"""Benchmark: tick → signal → risk → paper fill, in process, over 100,000 real 1-minute bars.

Each event is one bar of the shared BTC/USDT 1m file: a ``Tick`` at the bar's close followed by
its ``CandleClosed``, both handed to the real strategy runner exactly as the bus would (paper
engine update, position rules, ``latest_signal`` over the rolling window, risk guards, router,
paper fill, ledger line, wallet and runner state, equity mark, kill switch). The clock starts
when the tick arrives and stops when the runner is done with the candle. A momentum strategy
with an ATR stop, a trailing stage and a partial take-profit trades a few thousand times.

Durable writes are real (the journaled intent's fsync; fills, trade lines and summaries follow
without one), so the figures depend on the disk; ``--root-dir`` picks where the bot's files go (a
tmpfs shows the CPU-bound path). Every ``os.fsync`` is counted, so the report says how many an
order event costs (the goal is one), and one fsync'd append of a ledger-sized line is timed in
the same run and folder, so the order-event p50 is reported as a ratio to it (goal ≤ 2).

    python bench/latency_bench.py [--data DIR] [--events 100000] [--window 200] [--root-dir DIR] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd

from src.app.wire_execution import Execution, build_execution
from src.config import parse_config
from src.config.secrets import Secrets
from src.core.bus import EventBus
from src.core.clock import MarketClock
from src.core.events import CandleClosed, Tick
from src.market.cache import MarketCache
from src.runtime.context import AppContext, Paths
from src.state.control import Controller
from src.state.store import StateStore
from src.strategy.spec import family_spec

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
MINUTE_MS = 60_000
# the bench times the path, not whether the strategy deserves capital: guards that would (rightly) stop a
# losing 1m strategy after a few dozen trades are opened wide so it keeps trading all the way through
RISK = {"max_position_fraction": 0.5, "max_strategy_allocation_fraction": 0.5, "cooldown_after_loss_minutes": 0,
        "max_consecutive_losses": 1000, "daily_loss_limit_fraction": 1.0, "max_drawdown_fraction": 1.0,
        "kelly_min_trades": 1_000_000}


def build(root: Path, window: int) -> tuple[AppContext, Execution]:
    cfg = parse_config({"replay": {"timeframe": "1m"}, "risk": RISK,
                        "paper": {"runner_window_bars": window, "candle_impact_bps": 5}})
    paths = Paths(root)
    paths.ensure()
    store = StateStore(paths.state)
    ctx = AppContext(config=cfg, secrets=Secrets(), paths=paths, bus=EventBus(), store=store, clock=MarketClock())
    spec = family_spec("momentum", fast=12, slow=26, timeframe="1m", position_fraction=0.3, stop_atr=2.0,
                       trailing=[{"trigger_r": 1.0, "lock_r": 0.0}], partial_tp=[{"at_r": 1.5, "fraction": 0.3}],
                       max_hold_bars=240, id="bench-momentum")
    (paths.strategies / "active" / "bench-momentum.json").write_text(spec.model_dump_json())
    return ctx, build_execution(ctx, Controller(store), MarketCache("1m"))


class FsyncCounter:
    """Counts every ``os.fsync`` of the process while installed (the durable writes of an event)."""

    def __init__(self) -> None:
        self.n = 0
        self._real = os.fsync

    def __enter__(self) -> FsyncCounter:
        def counting(fd: int) -> None:
            self.n += 1
            self._real(fd)
        os.fsync = counting
        return self

    def __exit__(self, *_exc: object) -> None:
        os.fsync = self._real


REFERENCE_LINE = b"{" + b'"x":1,' * 90 + b'"end":0}\n'  # about one ledger fill line


def fsynced_append_us(path: Path) -> float:
    """Wall time of one fsync'd append of a ledger-sized line (the reference an order is compared with)."""
    with path.open("ab") as fh:
        t0 = time.perf_counter_ns()
        fh.write(REFERENCE_LINE)
        fh.flush()
        os.fsync(fh.fileno())
        return (time.perf_counter_ns() - t0) / 1_000.0


async def run(frame: pd.DataFrame, root: Path, window: int, n_events: int, warmup: int = 500) -> dict[str, float]:
    """Stream ``warmup`` bars untimed (JIT, caches), then time ``n_events`` bars: wall and CPU per event."""
    with FsyncCounter() as fsyncs:
        return await _run(frame, root, window, n_events, warmup, fsyncs)


async def _run(frame: pd.DataFrame, root: Path, window: int, n_events: int, warmup: int,
               fsyncs: FsyncCounter) -> dict[str, float]:
    ctx, ex = build(root, window)
    series = ex.runner.cache.series("BTC/USDT")
    rows = frame.to_numpy()
    for r in rows[:window]:
        series.append(int(r[0]), *r[1:])
    wall = np.empty(n_events, dtype=np.int64)
    cpu = np.empty(n_events, dtype=np.int64)
    traded = np.zeros(n_events, dtype=bool)
    n_fsync = np.zeros(n_events, dtype=np.int64)
    n_orders = np.zeros(n_events, dtype=np.int64)
    decide = np.empty(n_events, dtype=np.int64)
    ref_path, reference = root / "reference_append.jsonl", list[float]()
    t_start = 0.0
    for k, r in enumerate(rows[window: window + warmup + n_events]):
        if k == warmup:
            t_start = time.perf_counter()
        ts, o, h, lo, c, v = int(r[0]), *map(float, r[1:])
        seq0, f0, o0 = ex.ledger.last_seq, fsyncs.n, ex.paper.counters["submitted"]
        t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
        await ex.runner.on_event(Tick("BTC/USDT", ts + MINUTE_MS - 1, c, c * 0.99995, c * 1.00005))
        series.append(ts, o, h, lo, c, v)
        ctx.clock.advance_to(ts + MINUTE_MS)
        d0 = ex.runner.decisions
        await ex.runner.on_event(CandleClosed("BTC/USDT", "1m", ts, o, h, lo, c, v))
        if k >= warmup:
            i = k - warmup
            wall[i], cpu[i] = time.perf_counter_ns() - t0, time.thread_time_ns() - c0
            traded[i] = ex.ledger.last_seq > seq0
            n_fsync[i], n_orders[i] = fsyncs.n - f0, ex.paper.counters["submitted"] - o0
            decide[i] = wall[i] if ex.runner.decisions > d0 else 0
            if traded[i]:  # one reference append right after each order event: the same disk, the same load
                reference.append(fsynced_append_us(ref_path))
    elapsed = time.perf_counter() - t_start
    w, c_us = wall / 1_000.0, cpu / 1_000.0
    pct = {f"{name}_p{q}_us": float(np.percentile(arr, q)) for name, arr in (("wall", w), ("cpu", c_us))
           for q in (50, 99)}
    order_w = w[traded] if traded.any() else np.zeros(1)
    with_orders = n_orders > 0
    per_order = n_fsync[with_orders] / n_orders[with_orders] if with_orders.any() else np.zeros(1)
    ref = np.array(reference or [0.0])
    ref_p50 = float(np.percentile(ref, 50))
    # tick → decision: events with no order (the decision itself); order events add the durable write
    quiet_decide = decide[(~traded) & (decide > 0)] / 1_000.0
    quiet_decide = quiet_decide if len(quiet_decide) else np.zeros(1)
    quiet_w, quiet_c = (w[~traded], c_us[~traded]) if (~traded).any() else (np.zeros(1), np.zeros(1))
    return {"events": float(n_events), **pct, "wall_p999_us": float(np.percentile(w, 99.9)),
            "wall_max_us": float(w.max()), "events_per_s": n_events / elapsed,
            "order_events": float(traded.sum()), "order_wall_p50_us": float(np.percentile(order_w, 50)),
            "order_wall_p99_us": float(np.percentile(order_w, 99)),
            "order_cpu_p50_us": float(np.percentile(c_us[traded] if traded.any() else np.zeros(1), 50)),
            "quiet_wall_p99_us": float(np.percentile(quiet_w, 99)),
            "quiet_cpu_p99_us": float(np.percentile(quiet_c, 99)),
            "fsyncs_per_order_mean": float(per_order.mean()), "fsyncs_per_order_max": float(per_order.max()),
            "fsync_append_p50_us": ref_p50, "fsync_append_p99_us": float(np.percentile(ref, 99)),
            "order_p50_over_fsync_append": float(np.percentile(order_w, 50)) / ref_p50 if ref_p50 > 0 else 0.0,
            "tick_to_decision_p99_us": float(np.percentile(quiet_decide, 99)),
            "fills": float(sum(1 for e in ex.ledger.entries() if e.kind == "fill")),
            "closed_trades": float(len(ex.portfolio.closed_trades())), "window_bars": float(window)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--window", type=int, default=200, help="candles handed to the signal code per decision")
    p.add_argument("--root-dir", type=Path, default=None, help="where the bot's state/ and logs/ go")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    frame = pd.read_csv(args.data / "binance_BTC-USDT_1m.csv.gz")
    n = min(args.events, len(frame) - args.window)
    with tempfile.TemporaryDirectory(dir=args.root_dir) as tmp:
        res = asyncio.run(run(frame, Path(tmp), args.window, n))
    if args.json:
        print(json.dumps(res))
        return 0
    print(f"tick → signal → risk → paper fill, {int(res['events']):,} real 1m BTC/USDT bars (after 500 untimed), "
          f"window {int(res['window_bars'])} bars, {int(res['fills']):,} fills, "
          f"{int(res['closed_trades']):,} closed trades")
    print(f"  wall: p50 {res['wall_p50_us']:.0f} µs   p99 {res['wall_p99_us']:.0f} µs   "
          f"p99.9 {res['wall_p999_us']:.0f} µs   max {res['wall_max_us'] / 1000:.1f} ms   "
          f"{res['events_per_s']:,.0f} events/s")
    print(f"  cpu:  p50 {res['cpu_p50_us']:.0f} µs   p99 {res['cpu_p99_us']:.0f} µs   (this thread's CPU time: "
          "without preemption by other processes and disk waits)")
    print(f"  events with an order ({int(res['order_events']):,}): wall p50 {res['order_wall_p50_us']:.0f} µs   "
          f"p99 {res['order_wall_p99_us']:.0f} µs   cpu p50 {res['order_cpu_p50_us']:.0f} µs "
          "(one fsync'd journal line; fills and summaries follow without one)")
    print(f"  events without an order: wall p99 {res['quiet_wall_p99_us']:.0f} µs   cpu p99 "
          f"{res['quiet_cpu_p99_us']:.0f} µs (signal + position rules + equity mark)")
    print(f"  fsyncs per order: mean {res['fsyncs_per_order_mean']:.2f}   max {res['fsyncs_per_order_max']:.0f} "
          f"(goal ≤ 1)")
    print(f"  one fsync'd append (same run, same folder): p50 {res['fsync_append_p50_us']:.0f} µs   "
          f"p99 {res['fsync_append_p99_us']:.0f} µs;  order-event p50 / append p50 = "
          f"{res['order_p50_over_fsync_append']:.2f} (goal ≤ 2)")
    print(f"  tick → decision p99 (no order): {res['tick_to_decision_p99_us']:.0f} µs (goal < 1 ms: "
          f"{'met' if res['tick_to_decision_p99_us'] < 1000 else 'NOT met'})")
    print(f"  goal p99 < 1 ms (wall, all events): {'met' if res['wall_p99_us'] < 1000 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
