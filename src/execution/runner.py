"""The strategy runner: one readable tick per closed candle, with the backtester's exact semantics.

On each :class:`~src.core.events.CandleClosed` the runner, in this fixed order:

1. feeds the bar to every open position's :class:`~src.strategy.position_rules.PositionTracker`
   (ATR stop, trailing stages, partial take-profits, liquidation, time limit — the same compiled
   ``step_bar`` the backtester calls) and executes the exits it reports;
2. computes the strategy's decision on the bar with :func:`src.strategy.signals.latest_signal` (the
   one signal implementation) over the rolling window from the market cache;
3. exits on a signal exit, an opposite entry, or an expired time limit;
4. enters when flat and exactly one side fires, sized like the backtester
   (equity × position_fraction × leverage / price) — then the guards may only shrink it;
5. marks equity (curve, kill switch, daily loss).

One durable write per order: an intent is journaled in the ledger (one fsynced line) *before*
it is sent; its fills, its closed-trade line and ``state/runner.json`` follow without an fsync,
the summary rewritten off the event loop at most once a second. A restart turns journaled intents
the summary does not list as resolved back into pending ones and resolves them through the venue
by their deterministic client id (no duplicate), so a ``kill -9`` at any point loses nothing and
doubles nothing. A tracker that missed bars after a restart re-steps them from the market cache
through the same rules (see ``_catch_up``).

One virtual position per strategy: a venue nets by symbol (spot balances, one-way perp
positions), so each strategy's trade here is its own (entry, exits, fees, funding, P&L from its
own fills) and the venue's net is their sum. An exit is reduce-only only when that net covers it
on its side (see ``_net_covers``), else a plain order of the strategy's own size; opposite orders
of two strategies on one symbol in one bar are both sent, each its own order, never netted here.

An order whose outcome the venue cannot tell (answer lost, lookups lagging) stays pending as
*unresolved*: nothing else is sent for that strategy × symbol until a lookup, or its fill arriving
in the ledger, resolves it.

The backtester fills bar *i*'s decision at bar *i+1*'s open; the runner sends it at bar *i*'s
close, which is the same instant. Every order goes through the router (guards → venue) with a
deterministic client id.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from src.core.clock import Clock
from src.core.enums import Mode
from src.core.events import Alert, CandleClosed, Event, FundingRate, TradeClosed, TradeOpened
from src.core.timeframes import timeframe_ms
from src.execution.router import Router
from src.execution.runner_state import OpenTrade, PendingIntent, RunnerState, tracker_json
from src.execution.strategy_source import FileStrategySource, StrategySource, TradableStrategy, strategy_source
from src.market.cache import MarketCache
from src.orders.interface import OrderIntent, OrderRecord, client_order_id
from src.orders.ledger import Ledger, LedgerEntry
from src.risk.kill_switch import KillSwitch
from src.state.store import StateStore
from src.strategy import indicators as ind
from src.strategy.data import Candles, Funding
from src.strategy.position_rules import PositionTracker
from src.strategy.signals import latest_signal
from src.strategy.sizing import entry_fraction
from src.strategy.spec import RiskGenes, StrategySpec
from src.strategy.spec import market_for as spec_market

log = logging.getLogger(__name__)

_PURPOSE = {"stop": "stop", "trailing_stop": "stop", "liquidation": "stop", "take_profit": "take_profit",
            "partial": "take_profit", "signal": "exit", "time": "exit", "flatten": "flatten",
            "forceexit": "exit"}
FORCE_SEQ = 98  # a person's close on a bar never shares a client id with the strategy's own exit on it
DUST = 1e-12
# strategy records an engine of its own trades (the funding carry, src/funding/runner.py): never twice
ENGINE_OWNED = frozenset({"funding_carry"})
CHECK_EVERY_BARS = 12  # how often (in bars handled) the books are compared with the ledger


def _reads_funding(t: TradableStrategy) -> bool:
    """Whether the spec reads funding (then the runner builds the funding series for it)."""
    return any(r.name.startswith("funding") for r in t.spec.indicator_refs())


def market_for(t: TradableStrategy) -> str:
    """Where a strategy trades (:func:`src.strategy.spec.market_for`)."""
    return spec_market(t.spec)


class StrategyRunner:
    """Turns closed candles into orders; the single writer of ``state/runner.json``."""

    FILE = "runner.json"

    def __init__(self, mode: Mode, router: Router, cache: MarketCache, ledger: Ledger, kill: KillSwitch,
                 portfolio: Any, store: StateStore, clock: Clock, repository: Any | None,
                 files: FileStrategySource, window_bars: int = 1000, maintenance_margin: float = 0.005,
                 live_start_fraction: float = 0.1, publish: Callable[[Event], None] | None = None) -> None:
        self.mode, self.router, self.cache, self.ledger, self.kill = mode, router, cache, ledger, kill
        self.portfolio, self._store, self.clock, self.repository = portfolio, store, clock, repository
        self._files, self.window_bars, self.mmr = files, window_bars, maintenance_margin
        self.live_start_fraction = live_start_fraction
        self.dust_quote = 1.0
        self.state = store.load_or(self.FILE, RunnerState, RunnerState())
        self._closed_cids: set[str] = set()
        self._rebuild_from_journal()
        # the summary is rewritten off the hot path, in order, by one writer thread
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="runner-state")
        self._writes: list[Future[None]] = []
        self._dirty = False
        self.save_every_s = 1.0  # at most one summary rewrite per second of wall time: the journal has the rest
        self._last_write = -1e18
        self.bars = 0
        self.decisions = 0
        # one decision at a time: a command (emergency stop) must not interleave with a bar's orders
        self._busy = asyncio.Lock()
        self._publish = publish or (lambda _ev: None)
        self._alerted: dict[str, str] = {}  # alert key → the text last sent (a condition is said once)
        self._tasks: set[asyncio.Task[int]] = set()
        ledger.subscribe(self._on_ledger)

    def source(self) -> StrategySource:
        found = strategy_source(self.repository, self._files.dir, self.router.live_gate_open,
                                self.live_start_fraction)
        return self._files if isinstance(found, FileStrategySource) else found

    def save(self) -> None:
        """Rewrite the summary now, after any queued rewrite (no fsync: the journal's intent lines
        rebuild whatever it lacks)."""
        for fut in self._writes:
            fut.result()
        self._writes.clear()
        self.state.applied_seq = self.ledger.last_seq
        self._store.save(self.FILE, self.state, durable=False)
        self._dirty = False

    def _save_later(self) -> None:
        """Queue a rewrite of a snapshot of the summary to the writer thread (off the event loop), at
        most once per ``save_every_s``; until then it stays dirty (the journal covers the gap)."""
        now = time.monotonic()
        if now - self._last_write < self.save_every_s:
            return
        self._last_write = now
        self.state.applied_seq = self.ledger.last_seq
        snapshot = self.state.model_copy(deep=True)
        self._dirty = False
        self._writes = [f for f in self._writes if not f.done()]
        self._writes.append(self._writer.submit(self._store.save, self.FILE, snapshot, False))

    def _rebuild_from_journal(self) -> None:
        """Intents journaled after the summary was written and not resolved in it become pending again.

        The summary is rewritten without an fsync, so after a crash it may lag the journal: every
        intent line after its ``applied_seq`` that it does not list as resolved is re-sent on
        recovery (the venue knows it by its client id: it is booked, never placed twice), and the
        closed-trade lines already written are remembered so none is written twice.
        """
        known = {p.intent.client_order_id for p in self.state.pending} | set(self.state.booked)
        for entry in self.ledger.since(self.state.applied_seq):
            if entry.kind == "trade" and entry.client_order_id:
                self._closed_cids.add(entry.client_order_id)
            if entry.kind != "intent" or entry.client_order_id in known:
                continue
            try:
                p = PendingIntent.model_validate(entry.data)
            except ValueError:
                log.error("journal seq %d: intent %s unreadable; not recovered", entry.seq, entry.client_order_id)
                continue
            self.state.pending.append(p)
            known.add(entry.client_order_id)
            # the bar it was decided on was handled (marked before acting): never re-stepped
            sym = p.intent.symbol
            self.state.last_bar[sym] = max(self.state.last_bar.get(sym, -1), p.bar_ts)

    # -- events --------------------------------------------------------------------------------
    async def on_event(self, ev: Event) -> None:
        """Market events in feed order: the paper engine first, then the decision on a closed bar."""
        self.router.on_market_event(ev)
        if isinstance(ev, CandleClosed):
            async with self._busy:
                await self.on_candle(ev)
        elif isinstance(ev, FundingRate):
            self._attribute_funding(ev)

    async def recover(self) -> None:
        """Start-up is recovery: finish every intent that was written but not booked, then let open
        positions see the bars this runner never handled (exits only: a late exit beats none, a late
        entry on an old signal is not taken)."""
        async with self._busy:
            await self._recover()
            if self._dirty:
                self._save_later()

    async def _recover(self) -> None:
        for p in list(self.state.pending):
            log.warning("recovering intent %s (%s %s) left by the previous run", p.intent.client_order_id,
                        p.intent.purpose, p.intent.symbol)
            await self._send(p, write_ahead=False)
        for symbol in sorted({t.symbol for t in self.state.trades.values()}):
            s = self.cache.series(symbol)
            seen = min(t.tracker_bar_ts for t in self.state.trades.values() if t.symbol == symbol)
            seen = max(seen, self.state.last_bar.get(symbol, -1))
            first = int(np.searchsorted(s.timestamps, seen, side="right"))
            missed = range(max(first, s.n - self.window_bars), s.n)
            if len(missed):
                log.warning("runner: %s has %d closed bar(s) it never handled; checking exits on them", symbol,
                            len(missed))
            for k in missed:
                o, h, lo, c, v = (float(x) for x in s.ohlcv[k])
                await self.on_candle(CandleClosed(symbol, self.cache.timeframe, int(s.timestamps[k]), o, h, lo, c, v),
                                     entries=False)

    def unmanaged_positions(self) -> list[str]:
        """Ledger positions of automatic strategies that the runner does not manage (its state was lost
        or quarantined): nobody would exit them, so a person must hear about it."""
        managed = {(t.strategy_id, t.symbol): t.remaining_base * t.side for t in self.state.trades.values()}
        waiting = {(p.intent.strategy_id, p.intent.symbol) for p in self.state.pending}
        out = []
        for p in self.portfolio.open_positions():
            if p["strategy_id"] == "manual" or (p["strategy_id"], p["symbol"]) in waiting:
                continue  # an order still being resolved is reported as such, not as a lost position
            held = managed.get((p["strategy_id"], p["symbol"]), 0.0)
            gap = abs(p["qty_base"] - held)
            # lot-step dust left by rounded exits is not a position
            if gap * p["price_quote"] > self.dust_quote and gap > 0.01 * abs(p["qty_base"]):
                out.append(f"{p['strategy_id']} {p['symbol']}: ledger {p['qty_base']:.8g}, runner {held:.8g}")
        return out

    async def on_candle(self, ev: CandleClosed, entries: bool = True) -> None:
        if self.state.last_bar.get(ev.symbol, -1) >= ev.ts_ms:
            return
        # marked before acting: a crash mid-bar recovers its written intents, never re-steps the bar
        self.state.last_bar[ev.symbol] = ev.ts_ms
        if any(p.unresolved for p in self.state.pending):
            await self._resolve_pending()
        candles = self._window(ev)
        if candles is not None:
            funding: Funding | bool | None = False  # built once per bar, only if a strategy reads funding
            for strat, may_enter in self._strategies_for(ev):
                if funding is False and _reads_funding(strat):
                    funding = self._funding(ev.symbol)
                await self._step(strat, candles, funding if isinstance(funding, Funding) else None, ev,
                                 entries and may_enter)
        if self.kill.state.flatten_requested:
            await self._flatten_all("flatten", ev.ts_ms)
        self.bars += 1
        if self._dirty:
            self._save_later()
        if self.bars % CHECK_EVERY_BARS == 0:
            self.check_books(ev.ts_ms)
        equity = self.portfolio.mark(ev.ts_ms + timeframe_ms(ev.timeframe))
        if equity is not None:  # an unknown wallet is not a 100% drawdown: the switch waits for the fact
            self.kill.update(equity, self.clock.now_ms())

    def _strategies_for(self, ev: CandleClosed) -> list[tuple[TradableStrategy, bool]]:
        """Tradable strategies on this symbol, then open trades whose strategy is no longer tradable
        (retired, paused, file gone): those keep their exits and stops, with the rules they opened with,
        but make no new entries."""
        out = [(t, True) for t in self._tradable_specs()
               if ev.symbol in t.spec.symbols and t.spec.timeframe == ev.timeframe]
        ids = {t.spec.id for t, _ in out}
        for trade in self.state.trades.values():
            if trade.symbol == ev.symbol and trade.strategy_id not in ids and trade.spec:
                spec = StrategySpec.model_validate(trade.spec)
                if spec.timeframe == ev.timeframe:
                    out.append((TradableStrategy(spec, trade.status, 0.0), False))
        return out

    def _tradable_specs(self) -> list[TradableStrategy]:
        return [t for t in self.source().tradable(self.mode) if t.spec.id not in ENGINE_OWNED]

    def _window(self, ev: CandleClosed) -> Candles | None:
        """The closed candles up to and including ``ev`` (the cache may already hold later bars)."""
        s = self.cache.series(ev.symbol)
        end = int(np.searchsorted(s.timestamps, ev.ts_ms, side="right"))
        if end == 0 or int(s.timestamps[end - 1]) != ev.ts_ms:
            log.warning("runner: %s bar %d not in the market cache; skipped", ev.symbol, ev.ts_ms)
            return None
        lo = max(0, end - self.window_bars)
        return _candles(s.timestamps[lo:end], s.ohlcv[lo:end])

    def _with_refs(self, candles: Candles, spec: StrategySpec) -> Candles:
        """Attach the closes of the symbols a `rel_strength` rule compares with, on the same bars
        as the backtester does (`Candles.with_reference`); a missing bar reads NaN: no entry."""
        for sym in spec.reference_symbols():
            s = self.cache.series(sym)
            lo = int(np.searchsorted(s.timestamps, candles.ts[0], side="left"))
            hi = int(np.searchsorted(s.timestamps, candles.ts[-1], side="right"))
            other = _candles(s.timestamps[lo:hi], s.ohlcv[lo:hi])
            candles = candles.with_reference(sym, other)
        return candles

    def _funding(self, symbol: str) -> Funding | None:
        fund = self.cache.funding(symbol)
        return Funding.from_frame(fund) if len(fund) else None

    # -- one strategy on one bar ---------------------------------------------------------------
    async def _step(self, strat: TradableStrategy, candles: Candles, funding: Funding | None,
                    ev: CandleClosed, entries: bool = True) -> None:
        """One strategy on one closed bar: position rules, decision, exits, then (maybe) an entry."""
        spec = strat.spec
        key = f"{spec.id}|{ev.symbol}"
        candles = self._with_refs(candles, spec)
        atr = ind.atr(candles.high, candles.low, candles.close, spec.risk.atr_period)
        trade = self.state.trades.get(key)
        tracker = self._tracker(strat, trade) if trade is not None else None
        if trade is not None and tracker is not None and ev.ts_ms > trade.tracker_bar_ts:  # never a bar twice
            await self._apply_rules(trade, tracker, candles, atr, ev)
        sig = latest_signal(spec, candles, funding)
        self.decisions += 1
        trade = self.state.trades.get(key)
        if trade is not None and tracker is not None:
            sig_exit = (sig.exit_long or sig.entry_short) if trade.side > 0 else (sig.exit_short or sig.entry_long)
            if sig_exit or tracker.exit_at_next_open:
                await self._exit(trade, trade.remaining_base, "signal" if sig_exit else "time", ev.ts_ms)
        if key in self.state.trades or not entries:
            return
        want = int(sig.entry_long and not sig.entry_short) - int(sig.entry_short and not sig.entry_long)
        if want != 0 and (spec.risk.stop_atr == 0.0 or atr[-1] > 0.0):
            await self._enter(strat, want, ev, float(atr[-1]), entry_fraction(spec.risk, candles))

    async def _apply_rules(self, trade: OpenTrade, tracker: PositionTracker, candles: Candles, atr: np.ndarray,
                           ev: CandleClosed) -> None:
        """Stops, trailing, partial and full take-profits, liquidation on this bar — then their orders."""
        self._catch_up(trade, tracker, candles, atr)
        exits = tracker.on_bar(ev.open, ev.high, ev.low, ev.close, float(atr[-1]))
        trade.tracker_state, trade.tracker_bar_ts = tracker_json(tracker.state), ev.ts_ms
        for k, ex in enumerate(exits):
            qty = trade.remaining_base if not tracker.is_open else trade.qty0_base * ex.fraction
            await self._exit(trade, qty, ex.reason, ev.ts_ms, seq=k)
        left = self.state.trades.get(f"{trade.strategy_id}|{trade.symbol}")
        if left is not None and not tracker.is_open:
            # the rules closed it but the orders did not (refused, book too thin): close the rest
            reason = exits[-1].reason if exits else (left.last_reason or "stop")
            await self._exit(left, left.remaining_base, reason, ev.ts_ms, seq=len(exits) + 1)

    @staticmethod
    def _catch_up(trade: OpenTrade, tracker: PositionTracker, candles: Candles, atr: np.ndarray) -> None:
        """Re-step bars the tracker missed since its state was last written (after a restart).

        Tracker state is persisted with every order, not every bar: bars without an order change
        only the tracker, and replaying them through the same ``step_bar`` rebuilds it exactly.
        """
        first = int(np.searchsorted(candles.ts, trade.tracker_bar_ts, side="right"))
        for k in range(first, len(candles) - 1):
            exits = tracker.on_bar(candles.open[k], candles.high[k], candles.low[k], candles.close[k], float(atr[k]))
            if exits:
                log.warning("runner: %s re-stepped bar %d produced exits already handled; ignored",
                            trade.strategy_id, int(candles.ts[k]))
        if first < len(candles) - 1:
            log.info("runner: %s tracker caught up over %d bar(s)", trade.strategy_id, len(candles) - 1 - first)

    def _tracker(self, strat: TradableStrategy, trade: OpenTrade) -> PositionTracker:
        tracker = PositionTracker(strat.spec.risk, self.mmr)
        tracker.state[:] = np.array([np.nan if v is None else v for v in trade.tracker_state], dtype=np.float64)
        return tracker

    async def _enter(self, strat: TradableStrategy, side: int, ev: CandleClosed, atr_signal: float,
                     fraction: float) -> None:
        """`fraction` is the equity share from `src.strategy.sizing`, the backtester's sizing."""
        spec = strat.spec
        price = self.router.price(ev.symbol) or ev.close
        equity = self.portfolio.equity_quote(self.router.route_name(strat.status))  # the account it trades
        notional = equity * fraction * spec.risk.leverage * strat.size_fraction
        if notional <= 0:
            return
        intent = OrderIntent(
            client_order_id=client_order_id(spec.id, ev.symbol, ev.ts_ms, "entry"), strategy_id=spec.id,
            symbol=ev.symbol, side="buy" if side > 0 else "sell", qty_base=notional / price, purpose="entry",
            market=market_for(strat), decision_ts_ms=ev.ts_ms)  # type: ignore[arg-type]
        await self._send(PendingIntent(intent=intent, status=strat.status, leverage=spec.risk.leverage,
                                       reason="entry", atr_signal=atr_signal, bar_ts=ev.ts_ms,
                                       venue=self.router.route_name(strat.status), spec=spec.model_dump()))

    async def _exit(self, trade: OpenTrade, qty: float, reason: str, bar_ts: int,
                    seq: int = 0) -> OrderRecord | None:
        qty = min(qty, trade.remaining_base)
        if qty <= DUST:
            return None
        closes = qty >= trade.remaining_base * (1 - 1e-9)
        purpose = _PURPOSE.get(reason, "exit")
        intent = OrderIntent(
            client_order_id=client_order_id(trade.strategy_id, trade.symbol, bar_ts, purpose, seq),
            strategy_id=trade.strategy_id, symbol=trade.symbol, side="sell" if trade.side > 0 else "buy",
            qty_base=qty, purpose=purpose, reduce_only=self._net_covers(trade, qty),
            market=trade.market, decision_ts_ms=bar_ts)  # type: ignore[arg-type]
        return await self._send(PendingIntent(intent=intent, status=trade.status, reason=reason, bar_ts=bar_ts,
                                              closes=closes, venue=trade.venue))

    def _net_covers(self, trade: OpenTrade, qty: float) -> bool:
        """Whether the venue's net position (the sum of every strategy's on this venue, symbol and
        market) lies on ``trade``'s side by at least ``qty``.

        Only then may the exit be reduce-only: a netting venue clamps a reduce-only order to its
        net, so another strategy's opposite position would shrink this exit (or refuse it). An
        exit the net does not cover is a plain order of the strategy's own size, which moves the
        net exactly as the strategy's virtual position says it should.
        """
        net = sum(t.side * t.remaining_base for t in self.state.trades.values()
                  if (t.venue, t.symbol, t.market) == (trade.venue, trade.symbol, trade.market))
        return net * trade.side >= qty * (1 - 1e-9)

    async def flatten_all(self, reason: str, bar_ts: int) -> None:
        """Close every open position (emergency stop); waits for a bar in progress to finish first."""
        async with self._busy:
            await self._flatten_all(reason, bar_ts)

    async def close_strategy(self, strategy_id: str, reason: str = "forceexit") -> list[OrderRecord]:
        """A person's /forceexit ID: close that strategy's open trades (every symbol) and nothing else.

        Exits go through the router like the strategy's own (guards never block an exit) and are
        booked like any exit; the records say what was sent, so the answer can repeat it.
        """
        async with self._busy:
            trades = [t for t in self.state.trades.values() if t.strategy_id == strategy_id]
            return await self._close_trades(trades, reason)

    async def close_all(self, reason: str = "forceexit") -> list[OrderRecord]:
        """A person's /forceexit all: close every strategy's position once; no halt, entries stay allowed
        (the emergency stop is :meth:`flatten_all`)."""
        async with self._busy:
            return await self._close_trades(list(self.state.trades.values()), reason)

    async def _close_trades(self, trades: list[OpenTrade], reason: str) -> list[OrderRecord]:
        now = self.clock.now_ms()
        sent = [await self._exit(t, t.remaining_base, reason, now, seq=FORCE_SEQ) for t in trades]
        if self._dirty:
            self._save_later()
        return [r for r in sent if r is not None]

    async def _flatten_all(self, reason: str, bar_ts: int) -> None:
        """Send the closing orders; the request stays on (retried every bar) until nothing is open."""
        for trade in list(self.state.trades.values()):
            await self._exit(trade, trade.remaining_base, reason, bar_ts, seq=99)
        if not self.state.trades:
            self.kill.flatten_done()

    # -- sending and booking -------------------------------------------------------------------
    async def _send(self, p: PendingIntent, write_ahead: bool = True) -> OrderRecord | None:
        """Journal, send and book one intent; the venue's record (None: not sent, or refused)."""
        if write_ahead:
            blocker = self._unresolved_for(p.intent)
            if blocker is not None:
                log.warning("runner: %s %s not sent: order %s of %s on %s still has an unknown outcome",
                            p.intent.purpose, p.intent.client_order_id, blocker.intent.client_order_id,
                            p.intent.strategy_id, p.intent.symbol)
                return None
            self.ledger.journal_intent(p.intent.client_order_id, p.intent.strategy_id, p.intent.symbol,
                                       self.clock.now_ms(), p.model_dump(mode="json"))
            self.state.pending.append(p)
        trade = self._trade_for(p.intent)
        closing = p.intent.purpose != "entry"
        held = trade.remaining_base if (trade is not None and closing) else None
        if closing and trade is None:
            held = 0.0
        _, record = await self.router.submit(p.intent, p.status, p.leverage, held, venue_name=p.venue)
        if record is not None and not record.is_terminal:
            self._hold_unresolved(p, record)
            return record
        if record is not None:
            self._book(p, record)
        self._drop_pending(p)
        return record

    def _drop_pending(self, p: PendingIntent) -> None:
        cid = p.intent.client_order_id
        self.state.pending = [q for q in self.state.pending if q.intent.client_order_id != cid]
        self.state.booked = [*self.state.booked[-499:], cid]
        self._dirty = True  # rewritten once the bar is done (or now, when not in a bar)
        if not self._busy.locked():
            self._save_later()

    def _hold_unresolved(self, p: PendingIntent, record: OrderRecord) -> None:
        """Keep an order the venue could not answer for: it may have filled, so it is neither booked
        nor forgotten, and it blocks its strategy × symbol until a lookup or a fill resolves it."""
        for q in self.state.pending:
            if q.intent.client_order_id == p.intent.client_order_id and not q.unresolved:
                q.unresolved, q.unresolved_since_ms = True, self.clock.now_ms()
        log.warning("runner: order %s (%s %s) is %s with %.8g filled: outcome unknown, held until it resolves",
                    p.intent.client_order_id, p.intent.purpose, p.intent.symbol, record.status,
                    record.filled_qty_base)
        self.save()

    def _unresolved_for(self, intent: OrderIntent) -> PendingIntent | None:
        for q in self.state.pending:
            if q.unresolved and (q.intent.strategy_id, q.intent.symbol) == (intent.strategy_id, intent.symbol):
                return q
        return None

    async def resolve_pending(self) -> int:
        """Look up every order with an unknown outcome; book those the venue now knows the end of."""
        async with self._busy:
            done = await self._resolve_pending()
            if self._dirty:
                self._save_later()
            return done

    async def _resolve_pending(self) -> int:
        done = 0
        for p in [q for q in self.state.pending if q.unresolved]:
            venue = self.router.venue_named(p.venue)
            record = await self.router.lookup(venue, p.intent.client_order_id) if venue is not None else None
            if record is None or not record.is_terminal:
                continue
            log.warning("runner: order %s resolved as %s with %.8g filled", p.intent.client_order_id, record.status,
                        record.filled_qty_base)
            self._book(p, record)
            self._drop_pending(p)
            done += 1
        return done

    def _on_ledger(self, entry: LedgerEntry) -> None:
        """A fill of an order with an unknown outcome arrived (the live poller, late): resolve it now."""
        if entry.kind != "fill" or not any(p.unresolved and p.intent.client_order_id == entry.client_order_id
                                           for p in self.state.pending):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop: the next bar resolves it
        task = loop.create_task(self.resolve_pending())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def check_books(self, now_ms: int) -> None:
        """Compare the runner's books with the ledger (every few bars, not only at start-up): positions
        nobody manages and orders whose outcome stays unknown each raise one action alert."""
        orphans = self.unmanaged_positions()
        self._alert_once("unmanaged_positions", "Positions without a manager",
                         "The ledger holds positions the strategy runner does not manage: " + "; ".join(orphans)
                         + ". Close them by hand (manual_order ... reduce_only=true) or check state/quarantine."
                         if orphans else "", now_ms)
        stuck = [f"{p.intent.strategy_id} {p.intent.symbol} {p.intent.purpose} {p.intent.client_order_id}"
                 for p in self.state.pending if p.unresolved]
        self._alert_once("unresolved_orders", "Orders with an unknown outcome",
                         "The venue has not said what became of: " + "; ".join(stuck)
                         + ". No new order is sent for those strategies and symbols until it does; check the "
                           "exchange's order history." if stuck else "", now_ms)

    def _alert_once(self, key: str, title: str, text: str, now_ms: int) -> None:
        if not text:
            self._alerted.pop(key, None)
            return
        if self._alerted.get(key) == text:
            return
        self._alerted[key] = text
        log.critical("%s: %s", title, text)
        self._publish(Alert("action", title, text, key=key, ts_ms=now_ms))

    def _trade_for(self, intent: OrderIntent) -> OpenTrade | None:
        return self.state.trades.get(f"{intent.strategy_id}|{intent.symbol}")

    def _book(self, p: PendingIntent, rec: OrderRecord) -> None:
        """Fold an order's result into the runner's positions (entries open, exits reduce and close)."""
        filled, price = rec.filled_qty_base, rec.avg_price_quote
        if filled <= DUST or price is None:
            return
        i = p.intent
        key = f"{i.strategy_id}|{i.symbol}"
        if i.purpose == "entry":  # exits are told by purpose: an uncovered exit is not reduce-only
            opened = self.state.trades[key] = self._opened(p, rec)
            self._publish(TradeOpened(opened.strategy_id, opened.symbol, "long" if opened.side > 0 else "short",
                                      opened.qty0_base, opened.entry_price_quote, self.clock.now_ms(), opened.venue))
            return
        trade = self.state.trades.get(key)
        if trade is None:
            return
        trade.remaining_base = max(0.0, trade.remaining_base - filled)
        trade.gross_quote += trade.side * filled * (price - trade.entry_price_quote)
        trade.fees_quote += rec.fee_quote
        trade.exit_value_quote += filled * price
        trade.exited_base += filled
        trade.last_reason = p.reason
        # a full exit rounded down to the lot step leaves dust in the wallet, not an open trade
        if trade.remaining_base <= max(DUST, 1e-9 * trade.qty0_base) or (p.closes and rec.status == "filled"):
            self._close(trade, p.bar_ts, i.client_order_id)
            del self.state.trades[key]

    def _opened(self, p: PendingIntent, rec: OrderRecord) -> OpenTrade:
        i = p.intent
        side = 1 if i.side == "buy" else -1
        spec = StrategySpec.model_validate(p.spec) if p.spec else self._spec_of(i.strategy_id)
        tracker = PositionTracker(spec.risk if spec is not None else RiskGenes(), self.mmr)
        tracker.open(side, float(rec.avg_price_quote or 0.0), p.atr_signal)
        state = tracker.state
        return OpenTrade(strategy_id=i.strategy_id, symbol=i.symbol, market=i.market, side=side,
                         qty0_base=rec.received_qty_base, remaining_base=rec.received_qty_base,
                         entry_price_quote=float(rec.avg_price_quote or 0.0), entry_bar_ts=p.bar_ts,
                         entry_ms=self.clock.now_ms(), tracker_state=tracker_json(state), tracker_bar_ts=p.bar_ts,
                         fees_quote=rec.fee_quote, status=p.status, venue=p.venue,
                         spec=spec.model_dump() if spec is not None else {})

    def _spec_of(self, strategy_id: str) -> StrategySpec | None:
        for t in self.source().tradable(self.mode):
            if t.spec.id == strategy_id:
                return t.spec
        return None

    def _close(self, trade: OpenTrade, bar_ts: int, closing_cid: str = "") -> None:
        """Write the closed-trade record (automatic ledger) the learning engine and reports read."""
        if closing_cid and closing_cid in self._closed_cids:
            return  # written before a crash that the summary did not see: never twice
        net = trade.gross_quote - trade.fees_quote - trade.funding_quote
        # the strategy's own exit fills, averaged: never a share of a fill another strategy netted away
        exit_px = trade.exit_value_quote / trade.exited_base if trade.exited_base > 0 else 0.0
        self.ledger.append(durable=False, kind="trade", ts_ms=self.clock.now_ms(), strategy_id=trade.strategy_id,
                           symbol=trade.symbol, market=trade.market, client_order_id=closing_cid,
                           data={  # type: ignore[arg-type]
                               "side": "long" if trade.side > 0 else "short", "entry_bar_ts": trade.entry_bar_ts,
                               "exit_bar_ts": bar_ts, "entry_ms": trade.entry_ms, "exit_ms": self.clock.now_ms(),
                               "entry_price_quote": trade.entry_price_quote, "exit_price_quote": exit_px,
                               "qty_base": trade.qty0_base, "gross_quote": trade.gross_quote,
                               "fees_quote": trade.fees_quote, "funding_quote": trade.funding_quote,
                               "net_quote": net, "reason": trade.last_reason})
        log.info("trade closed: %s %s %s net %.2f (%s)", trade.strategy_id, trade.symbol,
                 "long" if trade.side > 0 else "short", net, trade.last_reason)
        self._publish(TradeClosed(trade.strategy_id, trade.symbol, "long" if trade.side > 0 else "short",
                                  trade.qty0_base, trade.entry_price_quote, exit_px, net, trade.fees_quote,
                                  trade.last_reason, self.clock.now_ms(), trade.venue))

    def _attribute_funding(self, ev: FundingRate) -> None:
        price = self.router.price(ev.symbol)
        if price is None:
            return
        for trade in self.state.trades.values():
            if trade.symbol == ev.symbol and trade.market == "perp":
                trade.funding_quote += trade.side * trade.remaining_base * price * ev.rate

    def describe(self) -> dict[str, object]:
        return {"bars": self.bars, "decisions": self.decisions, "open_trades": len(self.state.trades),
                "pending_intents": len(self.state.pending)}


def _candles(ts: np.ndarray, ohlcv: np.ndarray) -> Candles:
    """Contiguous `Candles` from a cache block (timestamps, then open/high/low/close/volume columns)."""
    o, h, lo, c, v = (np.ascontiguousarray(ohlcv[:, k]) for k in range(5))
    return Candles(np.ascontiguousarray(ts), o, h, lo, c, v)
