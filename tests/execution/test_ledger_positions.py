"""Ledger durability and P&L accounting: torn lines, separate ledgers, and the money invariants."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from src.core.events import FundingRate
from src.orders.ledger import AUTO_FILE, MANUAL_FILE, Ledger, wallet_deltas
from src.orders.positions import Position
from tests.execution.conftest import HOUR_MS, candle, intent, make_engine


def test_average_entry_realized_and_crossing_zero() -> None:
    pos = Position("BTC/USDT")
    pos.apply_fill("buy", 1.0, 100.0, 0.1, 0)
    pos.apply_fill("buy", 1.0, 110.0, 0.1, 1)
    assert pos.avg_entry_quote == pytest.approx(105.0)
    realized = pos.apply_fill("sell", 0.5, 120.0, 0.1, 2)
    assert realized == pytest.approx(7.5)
    assert pos.unrealized_quote(100.0) == pytest.approx(1.5 * -5.0)
    pos.apply_fill("sell", 2.5, 90.0, 0.1, 3)  # closes 1.5 at 90, opens a 1.0 short at 90
    assert pos.qty_base == pytest.approx(-1.0)
    assert pos.avg_entry_quote == pytest.approx(90.0)
    assert pos.realized_gross_quote == pytest.approx(7.5 + 1.5 * (90.0 - 105.0))
    pos.apply_funding(0.3)
    assert pos.realized_net_quote == pytest.approx(pos.realized_gross_quote - 0.4 - 0.3)


def test_a_torn_last_line_is_cut_off_logged_and_never_fatal(tmp_path: Path, caplog) -> None:
    ledger = Ledger(tmp_path)
    ledger.append(kind="fill", ts_ms=1, symbol="BTC/USDT", side="buy", qty_base=1, price_quote=10,
                  deltas={"BTC": 1, "USDT": -10})
    path = tmp_path / AUTO_FILE
    with path.open("ab") as fh:
        fh.write(b'{"seq":2,"kind":"fill","ts_ms":2,"sym')  # kill -9 in the middle of a write
    with caplog.at_level(logging.ERROR):
        again = Ledger(tmp_path)
    assert "torn" in caplog.text
    assert [e.seq for e in again.entries()] == [1]
    assert (tmp_path / (AUTO_FILE + ".torn")).read_bytes().startswith(b'{"seq":2')
    nxt = again.append(kind="funding", ts_ms=3, symbol="BTC/USDT", deltas={"USDT": -0.1})
    assert nxt.seq == 2
    assert [e.seq for e in Ledger(tmp_path).entries()] == [1, 2]


def test_a_garbled_middle_line_is_skipped_with_a_log_line(tmp_path: Path, caplog) -> None:
    ledger = Ledger(tmp_path)
    ledger.append(kind="funding", ts_ms=1, deltas={"USDT": -1})
    with (tmp_path / AUTO_FILE).open("ab") as fh:
        fh.write(b"not json\n")
    ledger.append(kind="funding", ts_ms=2, deltas={"USDT": -2})
    with caplog.at_level(logging.ERROR):
        assert [e.seq for e in Ledger(tmp_path).entries()] == [1, 2]
    assert "unreadable" in caplog.text


async def test_manual_and_automatic_trades_go_to_separate_ledgers(tmp_path: Path) -> None:
    eng = make_engine(tmp_path)
    eng.on_event(candle(100.0))
    await eng.submit(intent("buy", 1.0))
    await eng.submit(intent("buy", 0.5, manual=True, strategy="manual", purpose="manual"))
    auto = (tmp_path / "logs" / AUTO_FILE).read_text().splitlines()
    manual = (tmp_path / "logs" / MANUAL_FILE).read_text().splitlines()
    assert len(auto) == 1
    assert len(manual) == 1
    assert [e.seq for e in eng.ledger.entries()] == [1, 2]


orders = st.lists(st.tuples(st.sampled_from(["buy", "sell"]), st.floats(0.01, 5.0),
                            st.sampled_from(["spot", "perp"]), st.floats(50.0, 150.0),
                            st.floats(-0.003, 0.003)), min_size=1, max_size=25)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stream=orders)
def test_ledger_sum_equals_wallet_change_and_costs_never_vanish(tmp_path_factory, stream) -> None:
    root = tmp_path_factory.mktemp("ledger")
    asyncio.run(_run_stream(root, stream))


async def _run_stream(root: Path, stream: list[tuple[str, float, str, float, float]]) -> None:
    eng = make_engine(root, candle_impact_bps=5.0)
    fees_paid = funding_paid = 0.0
    for k, (side, qty, market, price, rate) in enumerate(stream):
        eng.on_event(candle(price, ts_ms=k * HOUR_MS))
        rec = await eng.submit(intent(side, qty, market=market, seq=k))
        fees_paid += rec.fee_quote
        before = eng.wallet.balance("USDT")
        eng.on_event(FundingRate("BTC/USDT", (k + 1) * HOUR_MS, rate))
        funding_paid += before - eng.wallet.balance("USDT")
    entries = eng.ledger.entries()
    total = wallet_deltas(entries)
    for asset, bal in eng.wallet.state.balances.items():
        assert total.get(asset, 0.0) == pytest.approx(bal - eng.wallet.state.starting.get(asset, 0.0), abs=1e-7)
    assert sum(e.fee_quote for e in entries) == pytest.approx(fees_paid, abs=1e-9)
    assert sum(e.funding_quote for e in entries) == pytest.approx(funding_paid, abs=1e-7)
    perp = eng.wallet.state.perp.get("BTC/USDT")
    if perp is not None:  # the perp account: every quote delta is realized P&L minus fees minus funding
        perp_quote = sum(e.deltas.get("USDT", 0.0) for e in entries if e.market == "perp")
        assert perp_quote == pytest.approx(perp.realized_net_quote, abs=1e-7)
    rebuilt = make_engine(root)
    assert rebuilt.wallet.state.balances == pytest.approx(eng.wallet.state.balances)


async def test_a_quarantined_wallet_file_is_rebuilt_from_the_ledger(tmp_path: Path) -> None:
    eng = make_engine(tmp_path)
    eng.on_event(candle(100.0))
    await eng.submit(intent("buy", 2.0))
    await eng.submit(intent("sell", 1.0, market="perp", seq=1))
    eng.on_event(FundingRate("BTC/USDT", 8 * HOUR_MS, 0.0005))
    eng.wallet.save()
    (tmp_path / "state" / "paper_wallet.json").write_text('{"applied_seq": "garbage"')
    rebuilt = make_engine(tmp_path)
    assert rebuilt.wallet.state.balances == pytest.approx(eng.wallet.state.balances)
    assert any((tmp_path / "state" / "quarantine").iterdir())


async def test_new_lines_stay_newer_than_the_wallet_even_if_ledger_files_vanish(tmp_path: Path, caplog) -> None:
    eng = make_engine(tmp_path)
    eng.on_event(candle(100.0))
    await eng.submit(intent("buy", 2.0))
    eng.wallet.save()
    (tmp_path / "logs" / AUTO_FILE).rename(tmp_path / "logs" / "moved-away.jsonl")
    with caplog.at_level(logging.CRITICAL):
        again = make_engine(tmp_path)
    assert "removed" in caplog.text
    again.on_event(candle(100.0))
    await again.submit(intent("buy", 1.0, seq=1))
    assert again.wallet.balance("BTC") == pytest.approx(3.0)  # the new fill was applied, not skipped


def test_a_spot_buy_whose_fee_was_taken_in_base_holds_what_was_received(tmp_path: Path) -> None:
    """Binance takes a spot buy's fee in the base asset (no BNB): the strategy holds 0.00999 of the
    0.01 it bought; after selling what it received, nothing is left to call "unmanaged"."""
    from src.orders.ledger import Ledger
    from src.orders.portfolio import Portfolio

    ledger = Ledger(tmp_path / "logs", fsync=False)
    for i in range(21):  # the soak saw the remainders of many round trips add up
        ts = i * 7_200_000
        ledger.append(kind="fill", ts_ms=ts, venue="testnet", strategy_id="mr", symbol="BTC/USDT", market="spot",
                      client_order_id=f"b{i}", fill_id=f"b{i}", side="buy", qty_base=0.01, price_quote=50_000.0,
                      fee_quote=0.5, deltas={"BTC": 0.00999, "USDT": -500.0})
        ledger.append(kind="fill", ts_ms=ts + 3_600_000, venue="testnet", strategy_id="mr", symbol="BTC/USDT",
                      market="spot", client_order_id=f"s{i}", fill_id=f"s{i}", side="sell", qty_base=0.00999,
                      price_quote=50_000.0, fee_quote=0.4995, deltas={"BTC": -0.00999, "USDT": 499.0005})
    portfolio = Portfolio(ledger, lambda: 10_000.0, lambda _s: 50_000.0)

    assert portfolio.open_positions() == []
    assert portfolio.pnl("all", 21 * 7_200_000)["fees_quote"] == pytest.approx(21 * (0.5 + 0.4995))
