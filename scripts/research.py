"""Run the bot's whole discovery on one candle file, offline, and write what it found and why.

    python -m scripts.research --data candles.csv.gz --out research/ [--cycles 2] [--funding f.csv.gz]

The same generators, evaluator, trial ledger and gates as the running bot (no exchange, no
Telegram, no LLM): every candidate's verdict is printed, and ``report.md`` plus PNG equity
curves of the best candidates are written to ``--out`` with the trial count and the reasons each
candidate was rejected. Nothing is ever put up for approval here; the report says how many
would have earned a dry run (passed every gate).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repo root importable
    import _bootstrap  # noqa: F401

from ai_brain.discovery.brain_cycle import BrainCycle, BrainInputs
from ai_brain.discovery.lifecycle import Lifecycle
from ai_brain.evaluation.strategy_evaluator import Evaluation
from ai_brain.generators.hypothesis_generator import Hypothesis
from src.app.supervisor import Supervisor
from src.app.wire_brain import build_cycle, build_store
from src.config import ConfigError, Secrets, parse_config
from src.core.bus import EventBus
from src.core.enums import Mode
from src.core.events import Alert
from src.core.timeframes import timeframe_ms
from src.market.cache import MarketCache
from src.market.history import load_candles, load_funding
from src.runtime.context import AppContext, Paths
from src.state.store import StateStore
from src.strategy.data import Candles, Funding

_NAME = re.compile(r"(?:^|_)([A-Z0-9]+)-([A-Z0-9]+)_(\w+?)\.csv")


@dataclass
class Candidate:
    """One evaluated hypothesis: its selection-segment score and, for finalists, the verdict."""

    hypothesis: Hypothesis
    first_pass: Evaluation
    verdict: Evaluation | None

    @property
    def passed(self) -> bool:
        return self.verdict is not None and self.verdict.passed

    def reasons(self) -> list[str]:
        if self.verdict is None:
            return ["not selected: a better-scoring distinct candidate on the selection segment took the place"]
        return [] if self.verdict.passed else [c.name for c in self.verdict.checks if not c.passed]


@dataclass
class ResearchResult:
    symbol: str
    bars: int
    trials: int
    candidates: list[Candidate] = field(default_factory=list)
    evaluated: int = 0  # distinct specs evaluated, the genetic search's variants included
    approval_requests: int = 0
    filed: int = 0

    @property
    def passed(self) -> list[Candidate]:
        return [c for c in self.candidates if c.passed]


def symbol_of(path: Path) -> tuple[str, str]:
    """(symbol, timeframe) from a name like ``binance_BTC-USDT_1h.csv.gz``; else a neutral symbol."""
    m = _NAME.search(path.name)
    return (f"{m.group(1)}/{m.group(2)}", m.group(3)) if m else ("NOISE/USDT", "1h")


class _FixedClock:
    def __init__(self, now_ms: int) -> None:
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now


def _context(root: Path, candles: Candles, funding: Funding | None, symbol: str, timeframe: str,
             overrides: dict) -> tuple[AppContext, MarketCache]:
    cfg = parse_config({"replay": {"timeframe": timeframe}, "llm": {"enabled": False},
                        "brain": {"use_pool": False, "history_bars": len(candles), **overrides}})
    paths = Paths(root)
    paths.ensure()
    ctx = AppContext(config=cfg, secrets=Secrets(), paths=paths, bus=EventBus(), store=StateStore(paths.state),
                     clock=_FixedClock(int(candles.ts[-1]) + candles.step_ms()))  # type: ignore[arg-type]
    cache = MarketCache(timeframe)
    series = cache.series(symbol)
    for i in range(len(candles)):
        series.append(int(candles.ts[i]), candles.open[i], candles.high[i], candles.low[i], candles.close[i],
                      candles.volume[i])
    if funding is not None:
        for ts, rate in zip(funding.ts, funding.rate, strict=True):
            cache.add_funding(symbol, int(ts), float(rate))
    return ctx, cache


async def research(candles: Candles, root: Path, symbol: str = "NOISE/USDT", timeframe: str = "1h",
                   cycles: int = 1, funding: Funding | None = None, brain: dict | None = None) -> ResearchResult:
    """Run ``cycles`` discovery cycles on ``candles`` under ``root`` and collect every verdict."""
    ctx, cache = _context(root, candles, funding, symbol, timeframe, brain or {})
    alerts = ctx.bus.subscribe("research", _ignore, kinds=("alert",))
    store = build_store(ctx)
    life = Lifecycle(store, ctx.config.brain.lifecycle, Mode.REPLAY, ctx.bus.publish, ctx.clock.now_ms,
                     timeframe_ms(timeframe))
    cycle: BrainCycle = build_cycle(ctx, store, life, Supervisor(ctx), BrainInputs(cache)).cycle
    result = ResearchResult(symbol, len(candles), 0)
    try:
        for _ in range(cycles):
            written = await cycle.cycle_once()
            result.filed += len(written)
            result.evaluated += cycle.last_cycle["evaluated"]
            result.candidates += [Candidate(h, ev, cycle.last_verdicts.get(h.id)) for h, ev in cycle.last_candidates]
            cycle.review_once()
    finally:
        await cycle.close()
    result.trials = cycle.trials.count(symbol)
    while not alerts.queue.empty():
        event = alerts.queue.get_nowait()
        result.approval_requests += isinstance(event, Alert) and event.title.startswith("Approval waiting")
    return result


async def _ignore(_event: object) -> None:
    return None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="candles CSV(.gz): timestamp,open,high,low,close,volume")
    p.add_argument("--out", required=True, help="folder for report.md, the PNGs and the run's state")
    p.add_argument("--funding", help="funding CSV(.gz) of the same symbol (perp strategies)")
    p.add_argument("--cycles", type=int, default=1, help="discovery cycles to run (default 1)")
    p.add_argument("--templates", type=int, help="template candidates per cycle (default: config)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from scripts._research_report import print_verdicts, write_report

    args = parse_args(argv)
    data, out = Path(args.data), Path(args.out)
    try:
        candles = load_candles(data)
        funding = load_funding(Path(args.funding)) if args.funding else None
    except (OSError, ValueError) as exc:
        print(f"research: cannot read the data: {exc}", file=sys.stderr)
        return 2
    symbol, timeframe = symbol_of(data)
    brain = {"generators": {"templates_per_cycle": args.templates}} if args.templates else {}
    try:
        result = asyncio.run(research(candles, out / "root", symbol, timeframe, args.cycles, funding, brain))
    except ConfigError as exc:
        print(f"research: {exc}", file=sys.stderr)
        return 2
    print_verdicts(result)
    path = write_report(result, candles, funding, out)
    print(f"report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
