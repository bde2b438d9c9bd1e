"""Backtester benchmark against vectorbt and backtesting.py, measured side by side in one run.

    python bench/backtest_bench.py [--rows N] [--json] [--skip-backtesting-py]

Workloads (all: long-only, signal on close, fill at the next open, 10 bps fee per fill):
  A  one SMA(10)/SMA(50) crossover over N 1-minute bars: ours vs vectorbt vs backtesting.py
  B  a 100-combination fast/slow SMA sweep over the same bars: ours vs vectorbt's broadcast
  C  full evaluations (backtest + statistics + out-of-sample + walk-forward + look-ahead check)
     per second on eight years of BTC/USDT 1-hour bars, one process and the process pool

Trade counts must be identical between engines (asserted). Times are medians of repeated runs
after a warm-up run (numba compile and caches excluded for every engine alike).

Near-ties: on real 1m prices a fast and a slow average are often equal to within rounding, and
each engine's rolling-mean arithmetic breaks those ties differently (vectorbt subtracts running
cumulative sums, pandas compensates, we re-sum), which changes trade counts. So the peers
trade crossings of the *same* moving-average arrays (`shared_mas`, not timed for them), while
our time includes computing the averages from raw candles. This favours the peers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path
from statistics import median

import numpy as np
import pandas as pd

if __package__ in (None, ""):  # run as a file: make the repo root importable
    _ROOT = str(Path(__file__).resolve().parents[1])
    if _ROOT not in sys.path:
        sys.path.insert(0, _ROOT)

from ai_brain.evaluation.backtest_engine import CostModel, run_backtest, run_many
from ai_brain.evaluation.evaluation_pool import EvaluationPool
from ai_brain.evaluation.strategy_evaluator import evaluate
from src.config.evaluator import EvaluatorConfig
from src.market.history import load_candles
from src.strategy import indicators as ind
from src.strategy.data import Candles
from src.strategy.spec import StrategySpec, family_spec

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
FEE = 0.001
CASH = 1e12  # large, so no engine stops trading when a fee-heavy sweep member loses nearly everything
FAST_GRID = (5, 10, 15, 20, 25, 30, 35, 40, 45, 50)
SLOW_GRID = (60, 80, 100, 120, 140, 160, 180, 200, 220, 240)


def minute_bars(rows: int) -> Candles:
    """`rows` 1-minute bars: BTC, then ETH, then BTC again, ... (real 1m files), each segment
    rescaled so that its first open equals the previous segment's last close, on one
    continuous 1-minute clock. Volumes are kept as they are."""
    parts = [pd.read_csv(DATA / f"binance_{s}-USDT_1m.csv.gz") for s in ("BTC", "ETH")]
    segs, total, k, last_close = [], 0, 0, None
    while total < rows:
        seg = parts[k % 2].copy()
        if last_close is not None:
            scale = last_close / seg["open"].iloc[0]
            seg[["open", "high", "low", "close"]] *= scale
        last_close = float(seg["close"].iloc[-1])
        segs.append(seg)
        total, k = total + len(seg), k + 1
    frame = pd.concat(segs, ignore_index=True).iloc[:rows].copy()
    frame["timestamp"] = int(frame["timestamp"].iloc[0]) + 60_000 * np.arange(rows, dtype=np.int64)
    return Candles.from_frame(frame)


def _timed(fn, repeat: int) -> tuple[float, object]:
    fn()  # warm-up: compile / fill caches
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return median(times), out


def _cross_spec(fast: int, slow: int) -> StrategySpec:
    return family_spec("momentum", fast=fast, slow=slow, ma="sma")


# ------------------------------------------------------------------------------------ ours
def ours_single(c: Candles, fast: int, slow: int) -> int:
    """Everything from raw candles: moving averages, crossings, the backtest loop."""
    res = run_backtest(_cross_spec(fast, slow), c, costs=CostModel(FEE * 1e4, 0.0), initial_cash=CASH, cache={})
    return res.n_trades


def ours_sweep(c: Candles, combos: list[tuple[int, int]], threads: int) -> list[int]:
    specs = [_cross_spec(f, s) for f, s in combos]
    return [r.n_trades for r in run_many(specs, c, costs=CostModel(FEE * 1e4, 0.0), initial_cash=CASH,
                                          threads=threads)]


def shared_mas(c: Candles, windows: set[int]) -> dict[int, np.ndarray]:
    """The moving averages handed to the peers (see module docstring: near-ties)."""
    return {w: ind.sma(c.close, w) for w in sorted(windows)}


# ------------------------------------------------------------------------------------ vectorbt
def vbt_run(c: Candles, mas: dict[int, np.ndarray], fast: list[int], slow: list[int]) -> list[int]:
    """vectorbt's broadcast: crossings of all columns at once, then one multi-column portfolio."""
    import vectorbt as vbt

    f = pd.DataFrame(np.column_stack([mas[w] for w in fast]))
    s = pd.DataFrame(np.column_stack([mas[w] for w in slow]))
    entries = f.vbt.crossed_above(s)
    exits = f.vbt.crossed_below(s)
    # signal on close, fill at the next open: shift the signals one bar and trade at the open
    pf = vbt.Portfolio.from_signals(pd.Series(c.close), entries.shift(1, fill_value=False),
                                    exits.shift(1, fill_value=False), price=c.open[:, None], fees=FEE,
                                    init_cash=CASH, freq="1min")
    return [int(x) for x in np.asarray(pf.trades.count()).ravel()]


# ------------------------------------------------------------------------------------ backtesting.py
def backtesting_py_run(c: Candles, mas: dict[int, np.ndarray], fast: int, slow: int) -> int:
    from backtesting import Backtest, Strategy

    class SmaCross(Strategy):
        def init(self) -> None:
            self.f = self.I(lambda: mas[fast])
            self.s = self.I(lambda: mas[slow])

        def next(self) -> None:
            up = self.f[-1] > self.s[-1] and self.f[-2] <= self.s[-2]
            down = self.f[-1] < self.s[-1] and self.f[-2] >= self.s[-2]
            if up and not self.position:
                self.buy()
            elif down and self.position:
                self.position.close()

    frame = pd.DataFrame({"Open": c.open, "High": c.high, "Low": c.low, "Close": c.close, "Volume": c.volume},
                         index=pd.to_datetime(c.ts, unit="ms"))
    bt = Backtest(frame, SmaCross, cash=CASH, commission=FEE, finalize_trades=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = bt.run()
    return int(stats["# Trades"])


# ------------------------------------------------------------------------------------ workloads
def workload_a(c: Candles, repeat: int, with_bt: bool) -> dict:
    t_ours, n_ours = _timed(lambda: ours_single(c, 10, 50), repeat)
    mas = shared_mas(c, {10, 50})
    t_vbt, n_vbt = _timed(lambda: vbt_run(c, mas, [10], [50])[0], repeat)
    assert n_ours == n_vbt, f"trade counts differ: ours {n_ours}, vectorbt {n_vbt}"
    row = {"workload": "A", "rows": len(c), "trades": n_ours, "ours_s": t_ours, "vectorbt_s": t_vbt,
           "ratio_vs_vectorbt": t_ours / t_vbt}
    if with_bt:
        t0 = time.perf_counter()
        n_bt = backtesting_py_run(c, mas, 10, 50)
        t_bt = time.perf_counter() - t0
        assert n_ours == n_bt, f"trade counts differ: ours {n_ours}, backtesting.py {n_bt}"
        row.update(backtesting_py_s=t_bt, ratio_vs_backtesting_py=t_ours / t_bt)
    return row


def workload_b(c: Candles, repeat: int) -> dict:
    combos = [(f, s) for f in FAST_GRID for s in SLOW_GRID]
    t_ours1, n_ours = _timed(lambda: ours_sweep(c, combos, 1), repeat)
    t_ours, n_ours2 = _timed(lambda: ours_sweep(c, combos, 2), repeat)
    assert n_ours == n_ours2
    fast, slow = [f for f, _ in combos], [s for _, s in combos]
    mas = shared_mas(c, set(fast) | set(slow))
    t_vbt, n_vbt = _timed(lambda: vbt_run(c, mas, fast, slow), max(1, repeat // 2))
    assert n_ours == n_vbt, "trade counts differ between ours and vectorbt in the sweep"
    return {"workload": "B", "rows": len(c), "combos": len(combos), "trades": int(sum(n_ours)),
            "ours_s": t_ours, "ours_1_thread_s": t_ours1, "vectorbt_s": t_vbt,
            "ratio_vs_vectorbt": t_ours / t_vbt, "ratio_1_thread_vs_vectorbt": t_ours1 / t_vbt}


def _eval_specs() -> list[StrategySpec]:
    specs = [family_spec("momentum", fast=f, slow=s, ma=ma, short=True)
             for f in (5, 10, 20) for s in (50, 100) for ma in ("ema", "sma")]
    specs += [family_spec("breakout", channel=ch, exit_channel=ch // 2, stop_atr=2.0,
                          trailing=[{"trigger_r": 1.0, "lock_r": 0.0}, {"trigger_r": 2.0, "trail_atr": 2.0}])
              for ch in (20, 55, 100)]
    specs += [family_spec("mean_reversion", rsi_period=p, short=True, stop_atr=3.0, max_hold_bars=48)
              for p in (7, 14, 21)]
    return specs


def workload_c(repeat: int) -> dict:
    c = load_candles(DATA / "binance_BTC-USDT_1h.csv.gz")
    specs = _eval_specs()
    cfg = EvaluatorConfig()
    t_one, _ = _timed(lambda: [evaluate(s, c, cfg=cfg, trials=10) for s in specs], repeat)
    with EvaluationPool(cfg) as pool:
        batch = specs * 4
        t_pool, _ = _timed(lambda: pool.evaluate_many(batch, c, trials=10), max(1, repeat // 2))
    return {"workload": "C", "rows": len(c), "strategies": len(specs),
            "evals_per_s_one_process": len(specs) / t_one,
            "evals_per_s_pool": len(batch) / t_pool, "pool_workers": cfg.workers}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="backtester benchmark")
    p.add_argument("--rows", type=int, default=500_000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--json", action="store_true")
    p.add_argument("--skip-backtesting-py", action="store_true", help="skip the slow backtesting.py run")
    args = p.parse_args(argv)
    c = minute_bars(args.rows)
    rows = [workload_a(c, args.repeat, not args.skip_backtesting_py), workload_b(c, args.repeat),
            workload_c(args.repeat)]
    load = round(os.getloadavg()[0], 2)  # other processes on the machine skew every engine's time
    for row in rows:
        row["load_avg_1m"] = load
        sys.stdout.write((json.dumps(row) if args.json else _line(row)) + "\n")
    return 0


def _line(row: dict) -> str:
    return "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items())


if __name__ == "__main__":
    sys.exit(main())
