"""The order state machine: legal paths, refused transitions, fills from cumulative readings, persistence."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from src.orders.interface import OrderIntent
from src.orders.order_store import IllegalOrderTransition, OrderStore
from src.state.store import StateStore


def make_intent(cid: str = "atl-1", price: float | None = 100.0) -> OrderIntent:
    return OrderIntent(client_order_id=cid, strategy_id="s", symbol="BTC/USDT", side="buy", type="limit",
                       qty_base=2.0, price_quote=price, decision_ts_ms=1)


def store_at(root: Path) -> OrderStore:
    return OrderStore(StateStore(root), now_ms=lambda: 42)


def test_full_path_records_fills_from_cumulative_readings(tmp_path: Path) -> None:
    s = store_at(tmp_path)
    s.record_intent(make_intent())
    s.mark_sending("atl-1")
    s.apply("atl-1", "open", filled_qty_base=0.0, exchange_order_id="9")
    _, f1 = s.apply("atl-1", "partially_filled", filled_qty_base=0.5, cum_quote=50.0, fee_quote=0.05)
    _, again = s.apply("atl-1", "partially_filled", filled_qty_base=0.5, cum_quote=50.0, fee_quote=0.05)
    order, f2 = s.apply("atl-1", "filled", filled_qty_base=2.0, cum_quote=203.0, fee_quote=0.2)

    assert [f.qty_base for f in f1] == [0.5]
    assert again == []
    assert f2[0].qty_base == pytest.approx(1.5)
    assert f2[0].price_quote == pytest.approx(102.0)
    assert f2[0].fee_quote == pytest.approx(0.15)
    assert order.record.avg_price_quote == pytest.approx(101.5)
    assert order.record.fee_quote == pytest.approx(0.2)
    assert order.record.exchange_order_id == "9"


@pytest.mark.parametrize(("path", "bad"), [(["open", "filled"], "open"), (["rejected"], "open"),
                                           (["partially_filled"], "open"), (["cancelled"], "filled")])
def test_illegal_transitions_are_refused_and_change_nothing(tmp_path: Path, path: list[str], bad: str) -> None:
    s = store_at(tmp_path)
    s.record_intent(make_intent())
    for status in path:
        s.apply("atl-1", status)  # type: ignore[arg-type]
    before = s.get("atl-1").record

    with pytest.raises(IllegalOrderTransition):
        s.apply("atl-1", bad)  # type: ignore[arg-type]
    assert store_at(tmp_path).get("atl-1").record == before


def test_cumulative_fill_going_down_is_refused(tmp_path: Path) -> None:
    s = store_at(tmp_path)
    s.record_intent(make_intent())
    s.apply("atl-1", "partially_filled", filled_qty_base=1.0, cum_quote=100.0)
    with pytest.raises(IllegalOrderTransition, match="went down"):
        s.apply("atl-1", "partially_filled", filled_qty_base=0.5, cum_quote=50.0)


def test_same_client_id_for_a_different_intent_is_refused(tmp_path: Path) -> None:
    s = store_at(tmp_path)
    s.record_intent(make_intent())
    assert s.record_intent(make_intent()).client_order_id == "atl-1"
    with pytest.raises(IllegalOrderTransition, match="different intent"):
        s.record_intent(make_intent(price=101.0))


def test_send_attempts_survive_a_restart_and_mark_the_order_unresolved(tmp_path: Path) -> None:
    s = store_at(tmp_path)
    s.record_intent(make_intent())
    s.mark_sending("atl-1")

    reloaded = store_at(tmp_path)

    assert [o.client_order_id for o in reloaded.unresolved()] == ["atl-1"]
    assert reloaded.get("atl-1").outcome_unknown
    reloaded.apply("atl-1", "filled", filled_qty_base=2.0, cum_quote=200.0)
    with pytest.raises(IllegalOrderTransition, match="cannot send"):
        reloaded.mark_sending("atl-1")


def test_corrupt_order_file_is_quarantined_the_others_load(tmp_path: Path) -> None:
    s = store_at(tmp_path)
    s.record_intent(make_intent("atl-good"))
    (tmp_path / "orders_live" / "atl-bad.json").write_text('{"record": 5}')

    reloaded = store_at(tmp_path)

    assert [o.client_order_id for o in reloaded.all()] == ["atl-good"]
    assert len(list((tmp_path / "quarantine").iterdir())) == 1


def test_terminal_orders_beyond_the_limit_are_pruned_active_ones_never(tmp_path: Path) -> None:
    s = OrderStore(StateStore(tmp_path), now_ms=lambda: 1, keep_terminal=2)
    for i in range(5):
        s.record_intent(make_intent(f"atl-{i}"))
        if i != 1:
            s.apply(f"atl-{i}", "cancelled")

    kept = [o.client_order_id for o in s.all()]

    assert "atl-1" in kept
    assert len(kept) == 3
    assert "atl-4" in kept
    assert sorted(p.stem for p in (tmp_path / "orders_live").glob("*.json")) == sorted(kept)
    assert [o.client_order_id for o in OrderStore(StateStore(tmp_path), now_ms=lambda: 1).all()] == kept


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["open", "partially_filled", "filled", "cancelled", "expired"]),
                          st.floats(0.0, 1.0)), min_size=1, max_size=12))
def test_any_stream_of_exchange_readings_records_each_unit_once(readings: list[tuple[str, float]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        s = store_at(Path(folder))
        s.record_intent(make_intent())
        cum = 0.0
        for status, step in readings:
            cum = min(2.0, cum + step)  # the exchange's cumulative fill only grows
            before = s.get("atl-1").record
            try:
                s.apply("atl-1", status, filled_qty_base=cum, cum_quote=cum * 100.0)  # type: ignore[arg-type]
            except IllegalOrderTransition:
                assert store_at(Path(folder)).get("atl-1").record == before  # refused: nothing changed
                continue
        order = store_at(Path(folder)).get("atl-1")
        fills = order.fills
        assert sum(f.qty_base for f in fills) == pytest.approx(order.record.filled_qty_base)
        assert len({f.fill_id for f in fills}) == len(fills)
        assert all(f.qty_base > 0 and f.price_quote == pytest.approx(100.0) for f in fills)
        assert order.record.filled_qty_base <= 2.0 + 1e-9
