"""The AI cycle component: learn → generate → evaluate → file → promote, on a schedule.

One cycle reads point-in-time candles from the market cache, updates regimes, asks every
hypothesis source (offline ones always, the LLM when a key is set), evaluates the new ideas in
the evaluator's process pool (so the trading loop never waits), writes the best as strategy
files in ``strategies/testing`` and starts dry runs. Between cycles a light review applies the
lifecycle rules (approval requests, drift, scaling, retirement) and closed automatic trades
feed the learning engine. In replay the first cycle starts right after warm-up.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ai_brain.discovery.learning_engine import LearningEngine, TradeAssembler, closed_trade_from_ledger
from ai_brain.discovery.lifecycle import DEMO, Lifecycle
from ai_brain.discovery.strategy_store import Performance, Provenance, Source, StrategyRecord, StrategyStore, Verdict
from ai_brain.evaluation import statistics as st
from ai_brain.evaluation.backtest_engine import cost_model, run_backtest
from ai_brain.evaluation.strategy_evaluator import Evaluation, candidate_set_pbo, evaluate
from ai_brain.evaluation.trade_overlap import distinct_by_trades
from ai_brain.evaluation.trial_ledger import TRIAL_BATCH_SUFFIX, TrialBatch, TrialLedger, TrialRecord
from ai_brain.generators.dedup import content_hash
from ai_brain.generators.hypothesis_generator import GenerationContext, Hypothesis, HypothesisGenerator
from src.core.enums import MONEY_STATUSES
from src.core.events import Alert, Event, Fill, OrderUpdate
from src.market.cache import MarketCache
from src.orders.fees import FeeSchedule
from src.orders.ledger import Ledger
from src.runtime.context import AppContext
from src.state.control import Controller
from src.state.store import write_model
from src.strategy.data import Candles, Funding, with_peers
from src.strategy.spec import StrategySpec

log = logging.getLogger(__name__)


def in_daemon_thread(fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
    """Run blocking ``fn`` in a daemon thread and await its result. Unlike the loop's default
    executor, a shutdown never waits for it: a stop during a cycle terminates the pool, and the
    abandoned wait must not hold the process open."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[Any] = loop.create_future()

    def deliver(ok: bool, value: Any) -> None:
        if not fut.done():
            fut.set_result(value) if ok else fut.set_exception(value)

    def work() -> None:
        try:
            result = fn(*args)
        except BaseException as exc:  # handed to the awaiting task, not lost in the thread
            _call_soon(loop, deliver, False, exc)
        else:
            _call_soon(loop, deliver, True, result)

    threading.Thread(target=work, name="brain-evaluate", daemon=True).start()
    return fut


def _call_soon(loop: asyncio.AbstractEventLoop, fn: Callable[..., None], *args: Any) -> None:
    try:
        loop.call_soon_threadsafe(fn, *args)
    except RuntimeError:  # the loop already closed (shutdown): nobody is waiting any more
        pass


def evaluation_id(ev: Evaluation, spec: StrategySpec) -> str:
    return f"ev-{content_hash(spec)}-{ev.last_ts}"


def oos_figures(ev: Evaluation, spec: StrategySpec, candles: Candles, funding: Funding | None,
                cfg: Any) -> dict[str, Any]:
    """Out-of-sample metrics, significance and the per-bar return moments the lifecycle's band needs."""
    (_a, _b), (start, end) = st.oos_split(len(candles), cfg.oos_fraction)
    costs = cost_model(spec, FeeSchedule.from_config(cfg.fees), cfg.slippage_bps)  # the verdict's own costs
    res = run_backtest(spec, candles, funding, costs, cfg.initial_cash,
                       cfg.maintenance_margin, start=start, end=end)
    r = st.bar_returns(res.equity, res.initial_cash)
    return {**ev.out_of_sample.model_dump(), "significance": ev.significance.model_dump(),
            "bar_return_mean": float(np.mean(r)) if len(r) else 0.0,
            "bar_return_std": float(np.std(r)) if len(r) else 0.0,
            "start_ts": int(candles.ts[start]), "end_ts": int(candles.ts[end - 1])}


def build_record(h: Hypothesis, ev: Evaluation, oos: dict[str, Any]) -> StrategyRecord:
    """A new strategy file's content from a hypothesis and its evaluation."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    ev_id = evaluation_id(ev, h.spec)
    backtest = {**ev.in_sample.model_dump(), "bars": ev.bars, "first_ts": ev.first_ts, "last_ts": ev.last_ts,
                "fee_bps": ev.fee_bps, "slippage_bps": ev.slippage_bps,
                "positive_walk_forward_windows": ev.positive_windows, "lookahead_ok": ev.lookahead_ok}
    failed = [c.name for c in ev.checks if not c.passed]
    return StrategyRecord(
        id=h.spec.id, name=h.spec.name, type=h.spec.type, status="generated", spec=h.spec,
        source=Source(generator=h.generator, reasoning=h.reasoning, hypothesis_id=h.id, parents=list(h.parents),
                      prompt_hash=h.prompt_hash, regime=h.regime),
        performance=Performance(backtest=backtest, out_of_sample=oos),
        verdict=Verdict(evaluation_id=ev_id, passed=ev.passed, score=ev.score, reasons=ev.reasons,
                        failed_checks=failed),
        provenance=Provenance(hypothesis_id=h.id, evaluation_id=ev_id), created_at=now, updated_at=now)


@dataclass(frozen=True)
class BrainInputs:
    """What the cycle reads from the trading side, handed in by the composition root (None: absent)."""

    cache: MarketCache
    control: Controller | None = None
    ledger: Ledger | None = None
    gate: Any | None = None  # the data-integrity gate: ``allows_entry(symbol)``
    intel: Any | None = None  # news / sentiment: ``news_summary(now_ms)``
    runner_present: bool = False


class BrainCycle:
    """The scheduled discovery component (``name = "brain"``)."""

    name = "brain"

    def __init__(self, ctx: AppContext, store: StrategyStore, lifecycle: Lifecycle, generator: HypothesisGenerator,
                 learning: LearningEngine, trials: TrialLedger, inputs: BrainInputs, pool: Any = None) -> None:
        self.ctx, self.cfg, self.inputs = ctx, ctx.config.brain, inputs
        self.store, self.lifecycle, self.generator, self.learning = store, lifecycle, generator, learning
        self.trials, self.pool = trials, pool
        self.cycles = 0
        self.last_cycle: dict[str, Any] = {}
        self.assembler = TradeAssembler(ctx.config.mode, ctx.paths.state / "learning" / "open_trades.json",
                                        ctx.paths.state / "quarantine")
        self._candles: dict[str, Candles] = {}
        self._funding: dict[str, Funding | None] = {}
        self._evaluated: dict[str, Evaluation] = {}
        self._specs: dict[str, StrategySpec] = {}
        self.last_candidates: list[tuple[Hypothesis, Evaluation]] = []  # the last cycle, best selection first
        self.last_verdicts: dict[str, Evaluation] = {}  # its finalists' test-segment verdicts, by hypothesis id
        self._closers: list[Callable[[], Awaitable[None]]] = []
        self._ledger_attached = False
        self.context_hook: Callable[[GenerationContext], None] = lambda _ctx: None
        self._sub = ctx.bus.subscribe("brain_fills", self.on_event, kinds=("fill", "order"))

    # ------------------------------------------------------------------ component
    def on_close(self, closer: Callable[[], Awaitable[None]]) -> None:
        """Register a client or pool to release in :meth:`close` (the LLM client, the process pool)."""
        self._closers.append(closer)

    async def close(self) -> None:
        """Release clients and worker processes; safe to call more than once."""
        closers, self._closers = self._closers, []
        for closer in closers:
            try:
                await closer()
            except Exception:
                log.exception("closing a brain resource failed")

    async def run(self) -> None:
        self.attach_ledger()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.ctx.bus.run_subscriber(self._sub))
            tg.create_task(self._review_loop())
            tg.create_task(self._cycle_loop())

    async def _cycle_loop(self) -> None:
        await asyncio.sleep(self.cfg.first_cycle_delay_s)
        while True:
            wall, market = time.monotonic(), self.ctx.clock.now_ms()
            try:
                await self.cycle_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # a failed cycle is logged; the next one runs on schedule
                log.exception("AI cycle %d failed", self.cycles)
            await self._wait_next(wall, market)

    async def _wait_next(self, wall_start: float, market_start_ms: int) -> None:
        """Until ``cycle_minutes`` of wall time or ``cycle_market_hours`` of market time have passed
        (a replay runs the market fast), but never sooner than ``min_cycle_gap_s``."""
        while True:
            waited = time.monotonic() - wall_start
            market_h = (self.ctx.clock.now_ms() - market_start_ms) / 3_600_000
            due = waited >= self.cfg.cycle_minutes * 60 or market_h >= self.cfg.cycle_market_hours
            if due and waited >= self.cfg.min_cycle_gap_s:
                return
            await asyncio.sleep(1.0)

    async def _review_loop(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.lifecycle.review_every_s)
            try:
                self.review_once()
            except Exception:
                log.exception("lifecycle review failed")

    def review_once(self) -> None:
        control = self.inputs.control
        gate = bool(self.ctx.config.live.allow_live_trading and control is not None
                    and control.state.live_confirmed)
        self.lifecycle.review(self.candles_of, self.inputs.runner_present, self.learning.regime_label, gate)

    def candles_of(self, symbol: str) -> Candles | None:
        cache = self.inputs.cache
        if symbol not in cache.symbols:
            return None
        frame = cache.candles(symbol, last=self.cfg.history_bars)
        return Candles.from_frame(frame) if len(frame) else None

    def attach_ledger(self) -> bool:
        """Take closed trades from the execution ledger when there is one: first the lines a
        restart may have missed (idempotent), then every new line as it is written."""
        ledger = self.inputs.ledger
        if ledger is None or self._ledger_attached:
            return self._ledger_attached
        for entry in ledger.entries(manual=False):
            self.take_ledger_entry(entry)
        loop = asyncio.get_running_loop()
        def take_later(entry: Any) -> None:
            loop.call_soon(self.take_ledger_entry, entry)

        ledger.subscribe(take_later)
        self._ledger_attached = True
        return True

    def take_ledger_entry(self, entry: Any) -> None:
        trade = closed_trade_from_ledger(entry)
        if trade is None or entry.strategy_id is None:
            return
        if self.store.exists(entry.strategy_id):
            self.store.record_trade_result(entry.strategy_id, trade)
        if entry.seq > self.learning.ledger_seq:
            self.learning.learn_from_trade(entry.strategy_id, trade, self.candles_of(trade.symbol), entry.seq)

    async def on_event(self, event: Event) -> None:
        """Without a ledger: closed automatic trades folded from fills → the strategy's file and learning.
        Orders a risk guard refused are recorded on the strategy, so the drift check does not
        count them as missed trades."""
        if isinstance(event, OrderUpdate):
            self._take_refusal(event)
            return
        if not isinstance(event, Fill) or self._ledger_attached:
            return
        trade = self.assembler.on_fill(event)
        if trade is None or event.strategy_id is None:
            return
        if self.store.exists(event.strategy_id):
            live = self.store.get(event.strategy_id).status in MONEY_STATUSES
            trade = trade.model_copy(update={"mode": "live" if live else "dry_run"})
            self.store.record_trade_result(event.strategy_id, trade)
        self.learning.learn_from_trade(event.strategy_id, trade, self.candles_of(trade.symbol))

    def _take_refusal(self, event: OrderUpdate) -> None:
        if (event.status == "rejected" and event.reason.startswith("risk:") and event.strategy_id is not None
                and self.store.exists(event.strategy_id)):
            self.store.record_refused(event.strategy_id, event.ts_ms, event.side, event.reason)

    # ------------------------------------------------------------------ one cycle
    def _context(self) -> GenerationContext:
        cache = self.inputs.cache
        symbols = list(self.cfg.symbols) or list(cache.symbols)
        self._candles, self._funding = {}, {}
        gate = self.inputs.gate
        for sym in symbols:
            if gate is not None and not gate.allows_entry(sym):
                log.info("AI cycle: %s skipped, its data is blocked by the integrity check", sym)
                continue
            c = self.candles_of(sym)
            if c is None or len(c) < self.cfg.min_history_bars:
                continue
            self._candles[sym] = c
            fund = cache.funding(sym)
            self._funding[sym] = Funding.from_frame(fund) if len(fund) else None
            self.learning.update_regime(sym, c)
        self._candles = with_peers(self._candles)  # relative-strength rules compare with the others
        similar = {s: sim.describe() for s, c in self._candles.items() if (sim := self.learning.similar(c))}
        verdicts = [f"{r.id} ({r.source.generator}): {r.history[-1].reason}" for r in self.store.list("retired")[-8:]]
        intel = self.inputs.intel
        news = intel.news_summary(self.ctx.clock.now_ms()) if intel is not None else ""
        seen = {sym: c.slice(0, self._selection_end(sym)) for sym, c in self._candles.items()}
        return GenerationContext(decision_ts_ms=self.ctx.clock.now_ms(), timeframe=self.ctx.config.replay.timeframe,
                                 candles=seen, funding=dict(self._funding),
                                 regimes={s: r for s, r in self.learning.regimes.items() if s in self._candles},
                                 recent_verdicts=verdicts, similar_patterns=similar, news_summary=news,
                                 cycle=self.cycles,
                                 seed=self.cfg.generators.seed)

    async def cycle_once(self) -> list[StrategyRecord]:
        """Run one discovery cycle; returns the strategy records it wrote.

        Generators, the ranking and the genetic search's fitness see only the selection
        segment; the few best distinct candidates are then judged on the test segment with every
        trial on the symbol's data charged to the deflated Sharpe and the cycle's PBO as a gate.
        Only those that passed are filed; when none did, the best failure (its lesson feeds the
        next prompt) — or in a replay demo every finalist, each message marked DEMO."""
        started = time.monotonic()
        ctx = self._context()
        if not ctx.candles:
            log.info("AI cycle skipped: no symbol has %d bars yet", self.cfg.min_history_bars)
            return []
        self._evaluated, self._specs = {}, {}
        self.context_hook(ctx)
        hyps = await self.generator.generate(ctx)
        evals = await self.evaluate_hypotheses(hyps)
        self._save_trial_batch(ctx.decision_ts_ms)
        ranked = sorted(zip(hyps, evals, strict=True), key=lambda he: -he[1].score)
        finalists = await in_daemon_thread(self._finalists, ranked)
        final = await self.rejudge([h for h, _ev in finalists], hyps)
        judged = list(zip([h for h, _ev in finalists], final, strict=True))
        passed = [(h, ev) for h, ev in judged if ev.passed]
        self.last_candidates, self.last_verdicts = ranked, {h.id: ev for h, ev in judged}
        chosen = passed or (judged if self.lifecycle.demo else judged[:1])
        written = [self._file(h, ev) for h, ev in chosen]
        self.cycles += 1
        self.last_cycle = {"cycle": self.cycles, "hypotheses": len(hyps), "written": [r.id for r in written],
                           "evaluated": len(self._evaluated), "passed": len(passed),
                           "best_score": ranked[0][1].score if ranked else None,
                           "trials": {s: self.trials.count(s) for s in ctx.candles},
                           "seconds": round(time.monotonic() - started, 2), "market_ts": ctx.decision_ts_ms}
        log.info("AI cycle %d: %d hypotheses evaluated, %d passed every gate, %d filed, best score %s, %.1f s",
                 self.cycles, len(hyps), len(passed), len(written), self.last_cycle["best_score"],
                 self.last_cycle["seconds"])
        return written

    def _finalists(self, ranked: list[tuple[Hypothesis, Evaluation]]) -> list[tuple[Hypothesis, Evaluation]]:
        """The best ``keep_per_cycle`` by selection score, per symbol, that trade differently from
        each other and from the strategies already on file (trade overlap, not labels)."""
        out: list[tuple[Hypothesis, Evaluation]] = []
        limit = self.cfg.lifecycle.keep_per_cycle
        for sym in sorted({h.spec.symbols[0] for h, _ev in ranked}):
            mine = [(he, he[0].spec) for he in ranked if he[0].spec.symbols[0] == sym]
            on_file = [r.spec for r in self.store.list() if r.spec.symbols[0] == sym
                       and r.status not in ("rejected", "retired")]
            out += distinct_by_trades(mine, self._candles[sym], self._funding.get(sym), self._selection_end(sym),
                                      limit, on_file, self.cfg.generators.dedup_max_trade_overlap)
        return sorted(out, key=lambda he: -he[1].score)[:limit]

    def _selection_end(self, symbol: str) -> int:
        return st.oos_split(len(self._candles[symbol]), self.ctx.config.evaluator.oos_fraction)[0][1]

    def _save_trial_batch(self, market_ts: int) -> None:
        """This cycle's trials next to its evaluations: what the ledger is rebuilt from if damaged."""
        records = [TrialRecord.of(self._specs[k], "", ev.significance.sharpe_per_bar)
                   for k, ev in self._evaluated.items()]
        if records:
            path = self.ctx.paths.state / "evaluations" / f"cycle-{market_ts}-{self.cycles}{TRIAL_BATCH_SUFFIX}"
            write_model(path, TrialBatch(records=records))

    def _file(self, h: Hypothesis, ev: Evaluation) -> StrategyRecord:
        sym = h.spec.symbols[0]
        rec = build_record(h, ev, oos_figures(ev, h.spec, self._candles[sym], self._funding.get(sym),
                                              self.ctx.config.evaluator))
        self._save_evaluation(rec.provenance.evaluation_id or rec.id, ev)
        rec = self.store.add(rec, "ai", f"proposed by {h.generator}")
        rec = self.store.transition(rec.id, "backtested", "ai", f"evaluated: score {ev.score:.3f}, "
                                    f"{'passed' if ev.passed else 'failed'} the evaluator's gates")
        rec = self.lifecycle.admit(rec.id)
        if rec.status in ("dry_run", "backtested"):
            self._announce(rec, ev)
        return rec

    def _save_evaluation(self, ev_id: str, ev: Evaluation) -> None:
        path = self.ctx.paths.state / "evaluations" / f"{ev_id}.json"
        write_model(path, ev)

    def _announce(self, rec: StrategyRecord, ev: Evaluation) -> None:
        oos = ev.out_of_sample
        sharpe = "n/a" if oos.sharpe is None else f"{oos.sharpe:.2f}"
        tag = "" if ev.passed else f"{DEMO}: " if rec.status == "dry_run" else ""
        text = (f"{tag}{rec.name} [{rec.spec.symbols[0]} {rec.spec.timeframe}] by {rec.source.generator}, now "
                f"{rec.status}. Out-of-sample: {oos.trades} trades, return {oos.total_return:+.2%}, Sharpe {sharpe}, "
                f"max drawdown {oos.max_drawdown:.1%}; score {ev.score:.3f}; evaluator "
                f"{'passed' if ev.passed else 'failed: ' + '; '.join(ev.reasons[:2])}. "
                f"Why: {rec.source.reasoning[:300]}")
        self.ctx.bus.publish(Alert("info", f"Strategy discovered: {rec.id}", text, key=f"discovery:{rec.id}",
                                   ts_ms=self.ctx.clock.now_ms()))

    # ------------------------------------------------------------------ evaluation
    async def evaluate_specs(self, specs: list[StrategySpec], symbol: str) -> list[Evaluation]:
        """Evaluate on the cycle's candles of ``symbol`` (pool when configured); every distinct
        spec is a trial in the ledger, with its test-segment Sharpe for the trials' variance."""
        todo = list({content_hash(s): s for s in specs if content_hash(s) not in self._evaluated}.values())
        if todo:
            candles, funding = self._candles[symbol], self._funding.get(symbol)
            fresh = sum(not self.trials.seen(symbol, content_hash(s)) for s in todo)
            n = self.trials.count(symbol) + fresh  # one figure for the batch; the final verdict recounts
            if self.pool is not None:
                evs = await in_daemon_thread(self.pool.evaluate_many, todo, candles, funding, n)
            else:
                cfg = self.ctx.config.evaluator
                evs = await in_daemon_thread(lambda: [evaluate(s, candles, funding, cfg, n) for s in todo])
            self.trials.record(TrialRecord.of(s, "", ev.significance.sharpe_per_bar)
                               for s, ev in zip(todo, evs, strict=True))
            for s, ev in zip(todo, evs, strict=True):
                self._evaluated[content_hash(s)] = ev
                self._specs[content_hash(s)] = s
        return [self._evaluated[content_hash(s)] for s in specs]

    async def rejudge(self, hyps: list[Hypothesis], cycle_hyps: list[Hypothesis] | None = None) -> list[Evaluation]:
        """Final verdicts: every trial on the symbol's data, the variance across their Sharpe
        ratios, and the PBO of this cycle's candidates on the selection segment."""
        cfg = self.ctx.config.evaluator
        pool = cycle_hyps or hyps

        def run() -> list[Evaluation]:
            pbo: dict[str, float | None] = {}
            for sym in {h.spec.symbols[0] for h in hyps}:
                specs = list({content_hash(h.spec): h.spec for h in pool if h.spec.symbols[0] == sym}.values())
                pbo[sym] = (candidate_set_pbo(specs, self._candles[sym], self._funding.get(sym), cfg,
                                              end=self._selection_end(sym)) if len(specs) >= 2 else None)
            return [evaluate(h.spec, self._candles[sym], self._funding.get(sym), cfg, max(1, self.trials.count(sym)),
                             sr_variance=self.trials.sharpe_variance(sym), pbo=pbo[sym], refit=True)
                    for h in hyps for sym in [h.spec.symbols[0]]]
        return await in_daemon_thread(run)

    async def evaluate_hypotheses(self, hyps: list[Hypothesis]) -> list[Evaluation]:
        by_symbol: dict[str, list[StrategySpec]] = {}
        for h in hyps:
            by_symbol.setdefault(h.spec.symbols[0], []).append(h.spec)
        for sym, specs in by_symbol.items():
            await self.evaluate_specs(specs, sym)
        return [self._evaluated[content_hash(h.spec)] for h in hyps]

    async def fitness(self, symbol: str, specs: list[StrategySpec]) -> list[float]:
        return [ev.score for ev in await self.evaluate_specs(specs, symbol)]

    def describe(self) -> dict[str, Any]:
        return {"cycles": self.cycles, "last_cycle": self.last_cycle, "sources": self.generator.describe(),
                "learning": self.learning.describe(), "strategies": self.store.counts()}
