"""Books per strategy over a netting venue, orders whose outcome is unknown, and ledger reads that stay cheap.

A venue nets by symbol (spot balances; one-way perp positions), so two strategies that hold
opposite positions on one symbol show the venue only their sum. Each strategy keeps its own
virtual position in the runner; these tests check that one strategy's orders never close,
shrink or price another's.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from src.execution.runner_state import PendingIntent
from src.strategy.spec import family_spec
from tests.execution.conftest import HOUR_MS, intent
from tests.execution.test_router_runner import T0, stack

CAPS = {"max_position_fraction": 1.0, "max_strategy_allocation_fraction": 1.0, "max_total_exposure_fraction": 5.0}


async def _open_perp(ex, strategy: str, side: str, qty: float) -> None:
    """Enter on the perp through the router and book it, as the runner does when an entry fills."""
    spec = family_spec("momentum", fast=3, slow=8, position_fraction=0.1, id=strategy)
    it = intent(side, qty, strategy=strategy, market="perp")
    _, rec = await ex.router.submit(it, "dry_run")
    assert rec is not None
    assert rec.status == "filled"
    ex.runner._book(PendingIntent(intent=rec.intent, status="dry_run", atr_signal=1.0,
                                  bar_ts=T0 + 59 * HOUR_MS, spec=spec.model_dump()), rec)


def _runner_net(ex, symbol: str = "BTC/USDT") -> float:
    return sum(t.side * t.remaining_base for t in ex.runner.state.trades.values() if t.symbol == symbol)


async def test_one_strategys_exit_never_touches_anothers_position_on_a_netting_perp(tmp_path: Path) -> None:
    _, ex = stack(tmp_path, risk=CAPS)
    await _open_perp(ex, "revert", "sell", 5.0)  # mean reversion short 5
    await _open_perp(ex, "momo", "buy", 8.0)  # momentum long 8: the venue sees +3
    assert ex.paper.wallet.perp_position("BTC/USDT").qty_base == pytest.approx(3.0)
    momo = ex.runner.state.trades["momo|BTC/USDT"]
    await ex.runner._exit(momo, momo.remaining_base, "signal", T0 + 60 * HOUR_MS)
    assert "momo|BTC/USDT" not in ex.runner.state.trades
    revert = ex.runner.state.trades["revert|BTC/USDT"]
    assert revert.remaining_base == pytest.approx(5.0)  # the short is still the mean-reversion strategy's
    # the venue's net is exactly the sum of what the strategies hold
    assert ex.paper.wallet.perp_position("BTC/USDT").qty_base == pytest.approx(_runner_net(ex))
    row = ex.portfolio.closed_trades("momo")[-1]
    price = ex.router.price("BTC/USDT")
    assert row["exit_price_quote"] == pytest.approx(price, rel=0.01)  # its own fill, not a share of it
    assert row["qty_base"] == pytest.approx(8.0)


async def test_an_exit_against_a_flat_net_is_sent_and_filled(tmp_path: Path) -> None:
    _, ex = stack(tmp_path, risk=CAPS)
    await _open_perp(ex, "revert", "sell", 4.0)
    await _open_perp(ex, "momo", "buy", 4.0)  # the venue is flat; both strategies hold 4
    revert = ex.runner.state.trades["revert|BTC/USDT"]
    await ex.runner._exit(revert, revert.remaining_base, "stop", T0 + 60 * HOUR_MS)
    assert "revert|BTC/USDT" not in ex.runner.state.trades
    assert ex.paper.wallet.perp_position("BTC/USDT").qty_base == pytest.approx(4.0)
    assert ex.runner.state.trades["momo|BTC/USDT"].remaining_base == pytest.approx(4.0)
    assert ex.portfolio.closed_trades("revert")[-1]["reason"] == "stop"


async def test_positions_list_each_strategy_and_the_venues_net(tmp_path: Path) -> None:
    _, ex = stack(tmp_path, risk=CAPS)
    await _open_perp(ex, "revert", "sell", 5.0)
    await _open_perp(ex, "momo", "buy", 8.0)
    rows = {r["strategy_id"]: r["qty_base"] for r in ex.portfolio.open_positions()}
    assert rows == {"revert": pytest.approx(-5.0), "momo": pytest.approx(8.0)}
    net = ex.portfolio.net_positions()
    assert [(n["venue"], n["symbol"], n["market"]) for n in net] == [("paper", "BTC/USDT", "perp")]
    assert net[0]["qty_base"] == pytest.approx(ex.paper.wallet.perp_position("BTC/USDT").qty_base)


async def test_funding_is_attributed_to_each_strategy_by_its_own_side(tmp_path: Path) -> None:
    from src.core.events import FundingRate

    _, ex = stack(tmp_path, risk=CAPS)
    await _open_perp(ex, "revert", "sell", 5.0)
    await _open_perp(ex, "momo", "buy", 8.0)
    ex.paper.on_event(FundingRate("BTC/USDT", T0 + 60 * HOUR_MS, 0.001))
    by = {k.split("|")[0]: p.funding_quote for k, p in ex.portfolio.book.positions.items()}
    venue_paid = ex.paper.wallet.perp_position("BTC/USDT").funding_quote
    assert by["momo"] > 0 > by["revert"]  # the long pays, the short receives
    assert by["momo"] + by["revert"] == pytest.approx(venue_paid)


async def test_the_positions_command_shows_the_venues_net_beside_each_strategy(tmp_path: Path) -> None:
    from src.telegram.render.reports import format_positions

    _, ex = stack(tmp_path, risk=CAPS)
    await _open_perp(ex, "revert", "sell", 5.0)
    await _open_perp(ex, "momo", "buy", 8.0)
    text = format_positions(ex.portfolio.open_positions(), "USDT", ex.portfolio.net_positions())
    assert "revert" in text
    assert "momo" in text
    assert "venue net:\n• paper BTC/USDT perp long 3" in text


def test_ledger_since_reads_only_the_new_lines(tmp_path: Path, caplog) -> None:
    """The offset index seeks past old lines: a line garbled far back is never read again by since()."""
    from src.orders.ledger import AUTO_FILE, Ledger

    led = Ledger(tmp_path, fsync=False)
    for k in range(2_000):
        led.append(kind="fill", ts_ms=k, symbol="BTC/USDT", side="buy", qty_base=1.0, price_quote=1.0,
                   deltas={"BTC": 1.0})
    path = tmp_path / AUTO_FILE
    data = bytearray(path.read_bytes())
    first = data.index(b"\n")
    data[:first] = b"x" * first  # garble line 1 in place: a whole-file read would log it
    path.write_bytes(bytes(data))
    caplog.clear()
    tail = led.since(led.last_seq - 3)
    assert [e.seq for e in tail] == [led.last_seq - 2, led.last_seq - 1, led.last_seq]
    assert "unreadable" not in caplog.text
    reopened = Ledger(tmp_path, fsync=False)  # the index is rebuilt on open, the same way
    assert [e.seq for e in reopened.since(reopened.last_seq - 1)] == [reopened.last_seq]
    later = led.append(kind="funding", ts_ms=9, manual=True, symbol="BTC/USDT", funding_quote=1.0)
    assert [e.seq for e in led.since(led.last_seq - 5)][-1] == later.seq


class LostAnswerVenue:
    """An exchange account that accepts and fills a market order but whose answer is lost, and whose
    lookups then lag: it reports the order as ``new`` with nothing filled until ``lagging`` ends.

    Binance's API documentation (General API Information, HTTP return codes) says a 5XX answer must
    not be treated as a failure: "the execution status is UNKNOWN and could have been a success". The
    live venue then returns the order still ``new`` with ``outcome_unknown`` until a lookup answers
    (src/execution/live_ccxt.py, ``LiveVenue._send``); this stand-in gives the runner that answer.
    """

    name = "live"

    def __init__(self, inner) -> None:
        self.inner, self.lagging, self.submits = inner, True, 0

    def _seen(self, rec):
        if rec is None or not self.lagging:
            return rec
        return rec.model_copy(update={"status": "new", "filled_qty_base": 0.0, "avg_price_quote": None})

    async def submit(self, it):
        self.submits += 1
        known = self.inner.lookup(it.client_order_id)
        return self._seen(known if known is not None else await self.inner.submit(it))

    def lookup(self, cid):
        return self._seen(self.inner.lookup(cid))

    async def cancel(self, cid):
        return await self.inner.cancel(cid)

    async def open_orders(self):
        return []

    async def balances(self):
        return await self.inner.balances()


def _live_stack(tmp_path: Path):
    from tests.execution.conftest import candle, make_engine

    ctx, ex = stack(tmp_path, "testnet", risk=CAPS)
    inner = make_engine(tmp_path / "exchange", ctx.clock)
    inner.on_event(candle(100.0, T0 + 59 * HOUR_MS, volume=1e6))
    venue = LostAnswerVenue(inner)
    ctx.services["live_venue"] = venue
    return ctx, ex, venue


def _pending(it, purpose_reason: str = "entry", closes: bool = False) -> PendingIntent:
    spec = family_spec("momentum", fast=3, slow=8, position_fraction=0.1, id=it.strategy_id)
    return PendingIntent(intent=it, status="live", reason=purpose_reason, atr_signal=1.0, bar_ts=T0 + 59 * HOUR_MS,
                         venue="live", spec=spec.model_dump(), closes=closes)


def _late_fill_line(ex, venue: LostAnswerVenue, cid: str) -> None:
    """What the live poller does once the exchange answers: the order's fill goes to the shared ledger."""
    rec = venue.inner.lookup(cid)
    i = rec.intent
    ex.ledger.append(kind="fill", ts_ms=T0 + 60 * HOUR_MS, venue="live", strategy_id=i.strategy_id, symbol=i.symbol,
                     market=i.market, client_order_id=cid, fill_id=f"{cid}-1", side=i.side,
                     qty_base=rec.filled_qty_base, price_quote=rec.avg_price_quote, fee_quote=rec.fee_quote,
                     deltas={}, data={"purpose": i.purpose})


async def test_an_entry_whose_answer_was_lost_blocks_the_next_order_until_its_fill_arrives(tmp_path: Path) -> None:
    import asyncio

    _, ex, venue = _live_stack(tmp_path)
    first = intent("buy", 2.0, strategy="momo")
    await ex.runner._send(_pending(first))
    assert "momo|BTC/USDT" not in ex.runner.state.trades
    assert [p.intent.client_order_id for p in ex.runner.state.pending] == [first.client_order_id]
    assert ex.runner.state.pending[0].unresolved
    again = intent("buy", 2.0, strategy="momo", seq=1)  # the next bar's same signal
    await ex.runner._send(_pending(again))
    assert venue.submits == 1  # no second buy while the first one's outcome is unknown
    venue.lagging = False
    _late_fill_line(ex, venue, first.client_order_id)  # the fill is an event the runner consumes
    for _ in range(5):
        await asyncio.sleep(0)
    trade = ex.runner.state.trades["momo|BTC/USDT"]
    assert trade.remaining_base == pytest.approx(2.0)
    assert trade.venue == "live"
    assert ex.runner.state.pending == []


async def test_an_exit_whose_answer_was_lost_is_never_sent_twice(tmp_path: Path) -> None:
    _, ex, venue = _live_stack(tmp_path)
    venue.lagging = False
    await ex.runner._send(_pending(intent("buy", 2.0, strategy="momo")))
    trade = ex.runner.state.trades["momo|BTC/USDT"]
    venue.lagging = True
    await ex.runner._exit(trade, trade.remaining_base, "signal", T0 + 60 * HOUR_MS)
    assert "momo|BTC/USDT" in ex.runner.state.trades  # unknown: not booked as closed, not forgotten
    await ex.runner._exit(trade, trade.remaining_base, "stop", T0 + 61 * HOUR_MS)
    assert venue.submits == 2  # the entry and one exit: never a second full sell
    venue.lagging = False
    await ex.runner.resolve_pending()
    assert "momo|BTC/USDT" not in ex.runner.state.trades
    assert venue.inner.wallet.balance("BTC") == pytest.approx(0.0, abs=1e-9)
    assert ex.portfolio.closed_trades("momo")[-1]["reason"] == "signal"


async def test_positions_nobody_manages_raise_an_action_alert_while_running(tmp_path: Path) -> None:
    _ctx, ex = stack(tmp_path, risk=CAPS)
    alerts: list = []
    ex.runner._publish = alerts.append
    await _open_perp(ex, "lost", "buy", 2.0)
    ex.runner.state.trades.clear()  # the runner forgot it (state lost): the ledger did not
    ex.runner.check_books(T0 + 60 * HOUR_MS)
    found = [a for a in alerts if getattr(a, "key", "") == "unmanaged_positions"]
    assert len(found) == 1
    assert found[0].level == "action"
    assert "lost BTC/USDT" in found[0].text
    ex.runner.check_books(T0 + 61 * HOUR_MS)
    assert len([a for a in alerts if getattr(a, "key", "") == "unmanaged_positions"]) == 1  # said once


def _paper_pending(it) -> PendingIntent:
    spec = family_spec("momentum", fast=3, slow=8, position_fraction=0.1, id=it.strategy_id)
    return PendingIntent(intent=it, status="dry_run", reason="signal", atr_signal=1.0, bar_ts=T0 + 59 * HOUR_MS,
                         venue="paper", spec=spec.model_dump(), closes=it.purpose != "entry")


async def test_one_fsync_per_order_and_the_journal_rebuilds_a_summary_that_lags(tmp_path: Path,
                                                                               monkeypatch) -> None:
    import os

    from tests.execution.conftest import candle
    from tests.rig import build_ex

    ctx, _ = stack(tmp_path, risk=CAPS)
    ex = build_ex(ctx, ledger_fsync=True)
    ex.paper.on_event(candle(100.0, T0 + 59 * HOUR_MS))
    ex.runner.save()
    old_summary = (ctx.paths.state / "runner.json").read_bytes()
    calls = {"n": 0}
    real_fsync = os.fsync

    def counting(fd: int) -> None:
        calls["n"] += 1
        real_fsync(fd)
    monkeypatch.setattr(os, "fsync", counting)
    await ex.runner._send(_paper_pending(intent("buy", 2.0, strategy="momo")))
    assert calls["n"] == 1  # the journaled intent; fill line, booking and summary need none
    trade = ex.runner.state.trades["momo|BTC/USDT"]
    calls["n"] = 0
    await ex.runner._exit(trade, trade.remaining_base, "signal", T0 + 60 * HOUR_MS)
    assert calls["n"] == 1
    monkeypatch.setattr(os, "fsync", real_fsync)
    # a power cut kept the old summary (it is rewritten without an fsync); the journal did not lose a line
    (ctx.paths.state / "runner.json").write_bytes(old_summary)
    ex2 = build_ex(ctx)
    await ex2.runner.recover()
    assert ex2.runner.state.trades == {}
    assert ex2.runner.state.pending == []
    lines = ex2.ledger.entries()
    assert sum(1 for e in lines if e.kind == "trade") == 1  # the closed trade is not written twice
    assert sum(1 for e in lines if e.kind == "fill") == 2  # nothing re-sent
