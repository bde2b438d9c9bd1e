"""The carry runner on live events: same decisions as the backtest, orders through a real venue, crash-safe."""

from __future__ import annotations

from pathlib import Path

import pytest

from ai_brain.paper.paper_trading_engine import PaperEngine
from src.config.execution import PaperConfig
from src.core.clock import MarketClock
from src.core.events import CandleClosed, Event, FundingRate
from src.funding.backtest import run_carry_backtest
from src.funding.carry import CarryParams
from src.funding.runner import CarryRunner, VenuePort
from src.orders.interface import OrderIntent, OrderRecord
from src.orders.ledger import Ledger
from src.state.store import StateStore
from src.strategy.data import Candles, Funding

P = CarryParams()
HOUR = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC, on the 8h grid
SYM = "BTC/USDT"


class Bot:
    """A paper engine plus a carry runner on one root, fed bar by bar like the replay feed does."""

    def __init__(self, root: Path, port_wrapper=None) -> None:
        self.clock = MarketClock(0)
        self.ledger = Ledger(root / "logs")
        self.paper = PaperEngine(PaperConfig(), self.ledger, self.clock, StateStore(root / "state"))
        port = VenuePort(self.paper) if port_wrapper is None else port_wrapper(VenuePort(self.paper))
        self.allowed = True
        self.runner = CarryRunner(P, (SYM,), port, StateStore(root / "state"), spot_price=self.paper.ref_price,
                                  equity_quote=self.paper.equity_quote, entries_allowed=lambda: self.allowed)

    async def feed(self, candles: Candles, funding: Funding, start: int, stop: int) -> None:
        rates = dict(zip(funding.ts.tolist(), funding.rate.tolist(), strict=True))
        for i in range(start, stop):
            ts, close_ms = int(candles.ts[i]), int(candles.ts[i]) + HOUR
            c = CandleClosed(SYM, "1h", ts, *(float(getattr(candles, k)[i]) for k in
                                                ("open", "high", "low", "close", "volume")))
            events: list[Event] = []
            if close_ms in rates:
                events.append(FundingRate(SYM, close_ms, rates[close_ms]))
            events.append(c)
            self.clock.advance_to(close_ms)
            self.paper.on_event(c)  # prices first, as the paper engine's subscription sees them
            for ev in events:
                if ev.kind == "funding":
                    self.paper.on_event(ev)
                await self.runner.on_event(ev)


def fills(ledger: Ledger) -> list:
    return [e for e in ledger.entries() if e.kind == "fill"]


async def test_runner_makes_the_backtests_decisions_through_the_paper_venue(
        tmp_path: Path, simulated_btc: tuple[Funding, Candles]) -> None:
    funding, candles = simulated_btc
    n = 24 * 60
    bot = Bot(tmp_path)

    await bot.feed(candles, funding, 0, n)

    expected = run_carry_backtest(funding, candles.slice(0, n), P)
    assert len(expected.trades) >= 2
    assert expected.trades[0].exit_ms is not None
    got = [e for e in fills(bot.ledger)]
    entries = sorted({e.ts_ms for e in got if e.side == "buy" and e.market == "spot"})
    exits = sorted({e.ts_ms for e in got if e.side == "sell" and e.market == "spot"})
    assert entries == [t.entry_ms for t in expected.trades]
    assert exits == [t.exit_ms for t in expected.trades if t.exit_ms is not None]
    for ts in entries:  # both legs, same size: delta-neutral
        legs = [e for e in got if e.ts_ms == ts and e.data.get("purpose") == "entry"]
        assert {(e.market, e.side) for e in legs} == {("spot", "buy"), ("perp", "sell")}
        assert legs[0].qty_base == pytest.approx(legs[1].qty_base)
    booked = -sum(e.funding_quote for e in bot.ledger.entries() if e.kind == "funding")
    runner_total = bot.runner.doc.positions[SYM].funding_quote
    assert booked == pytest.approx(runner_total, rel=1e-9)
    assert abs(booked) > 0


async def test_paused_entries_do_not_enter_but_exits_still_run(tmp_path: Path,
                                                                simulated_btc: tuple[Funding, Candles]) -> None:
    funding, candles = simulated_btc
    expected = run_carry_backtest(funding, candles, P)
    first = expected.trades[0]
    k_entry = int((first.entry_ms - candles.ts[0]) // HOUR)
    k_exit = int((first.exit_ms - candles.ts[0]) // HOUR)
    bot = Bot(tmp_path)
    await bot.feed(candles, funding, 0, k_entry + 2)
    assert bot.runner.doc.positions[SYM].in_position

    bot.allowed = False  # a person (or the reconciler) pauses entries
    await bot.feed(candles, funding, k_entry + 2, k_exit + 1)

    pos = bot.runner.doc.positions[SYM]
    assert not pos.in_position
    assert pos.carries == 1
    nxt = expected.trades[1]
    await bot.feed(candles, funding, k_exit + 1, int((nxt.entry_ms - candles.ts[0]) // HOUR) + 3)
    assert not bot.runner.doc.positions[SYM].in_position
    assert "paused" in bot.runner.doc.positions[SYM].last_decision


class DiesAfterOneOrder:
    """The first order reaches the venue, then the process 'dies' before the runner hears back."""

    def __init__(self, inner: VenuePort) -> None:
        self.inner = inner

    async def send(self, intent: OrderIntent) -> OrderRecord | None:
        await self.inner.send(intent)
        raise SystemExit("killed")


async def test_crash_between_the_two_legs_resends_nothing_twice(tmp_path: Path,
                                                               simulated_btc: tuple[Funding, Candles]) -> None:
    funding, candles = simulated_btc
    first = run_carry_backtest(funding, candles, P).trades[0]
    k_entry = int((first.entry_ms - candles.ts[0]) // HOUR)
    dying = Bot(tmp_path, DiesAfterOneOrder)
    with pytest.raises(SystemExit):
        await dying.feed(candles, funding, 0, k_entry + 1)
    assert len(dying.runner.doc.positions[SYM].pending) == 2  # both legs were written before sending

    restarted = Bot(tmp_path)
    await restarted.feed(candles, funding, k_entry + 1, k_entry + 3)

    got = fills(restarted.ledger)
    assert sorted((e.market, e.side) for e in got) == [("perp", "sell"), ("spot", "buy")]
    assert len({e.client_order_id for e in got}) == 2
    assert restarted.paper.counters["duplicates"] == 1  # the first leg was recognised, not re-sent
    pos = restarted.runner.doc.positions[SYM]
    assert pos.pending == []
    assert pos.spot_qty == pytest.approx(pos.perp_qty)
    assert pos.spot_qty > 0


class NullPort:
    async def send(self, intent: OrderIntent) -> OrderRecord | None:
        return None


async def test_live_predicted_funding_is_booked_once_per_settlement_with_the_last_prediction(tmp_path: Path) -> None:
    cached = [(T0 - 16 * HOUR + 6, 0.0001), (T0 - 12 * HOUR - 5, 0.5), (T0 - 8 * HOUR + 3, 0.0002)]
    runner = CarryRunner(P, (SYM,), NullPort(), StateStore(tmp_path), spot_price=lambda _s: 100.0,
                         equity_quote=lambda: 1_000.0, history=lambda _s: cached)
    pos = runner.doc.positions[SYM]
    assert pos.rates == [(T0 - 16 * HOUR, 0.0001), (T0 - 8 * HOUR, 0.0002)]  # predictions dropped, jitter rounded
    pos.perp_qty = pos.spot_qty = 2.0  # holding a carry: settlements pay the short
    polls = [(T0 - 7 * HOUR, 0.0003), (T0 - 60_000, 0.0004), (T0 + 500, 0.0009), (T0 + 60_000, 0.0009),
             (T0 + 8 * HOUR - 1, 0.0001), (T0 + 8 * HOUR + 30_000, 0.0002)]

    for ts, rate in polls:
        await runner.on_event(FundingRate(SYM, ts, rate))

    assert pos.rates[-2:] == [(T0, 0.0004), (T0 + 8 * HOUR, 0.0001)]
    assert pos.funding_quote == pytest.approx(2.0 * 100.0 * (0.0004 + 0.0001))
