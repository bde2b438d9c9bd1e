"""The strategy repository: files per status folder, legal moves only, history, recovery of copies."""

from __future__ import annotations

import json
import shutil

import pytest

from ai_brain.discovery.strategy_store import Approval, ClosedTrade, IllegalTransition, StrategyStore, UnknownStrategy
from src.core.events import StrategyEvent
from tests.brain.conftest import make_record


def test_add_writes_one_file_in_the_status_folder(store: StrategyStore, tmp_path) -> None:
    store.add(make_record("s1"), "ai", "created")

    path = tmp_path / "strategies" / "testing" / "s1.json"
    body = json.loads(path.read_text())
    assert body["status"] == "backtested"
    assert body["revision"] == 1
    assert body["history"][0]["actor"] == "ai"
    assert body["source"]["reasoning"] == "test"


def test_transition_moves_the_file_and_records_who_and_why(store: StrategyStore, tmp_path, events) -> None:
    store.add(make_record("s1", status="awaiting_approval"))

    store.transition("s1", "approved", "telegram:42", "looks good")

    assert not (tmp_path / "strategies" / "testing" / "s1.json").exists()
    body = json.loads((tmp_path / "strategies" / "active" / "s1.json").read_text())
    assert body["history"][-1] == {**body["history"][-1], "from_status": "awaiting_approval",
                                   "to_status": "approved", "actor": "telegram:42", "reason": "looks good"}
    assert [e.status for e in events if isinstance(e, StrategyEvent)] == ["awaiting_approval", "approved"]


@pytest.mark.parametrize(("start", "target", "actor", "words"), [
    ("backtested", "live", "script:ops", "cannot go from backtested to live"),
    ("awaiting_approval", "approved", "ai", "only a person"),
    ("rejected", "dry_run", "telegram:1", "final status"),
    ("approved", "live", "ai", "no approval by a person"),
])
def test_illegal_transitions_are_refused_and_change_nothing(store: StrategyStore, tmp_path, start, target,
                                                            actor, words) -> None:
    store.add(make_record("s1", status=start))
    before = (tmp_path / "strategies").rglob("s1.json").__next__().read_bytes()

    with pytest.raises(IllegalTransition, match=words):
        store.transition("s1", target, actor, "try")

    assert next((tmp_path / "strategies").rglob("s1.json")).read_bytes() == before
    assert store.get("s1").status == start


def test_live_needs_a_verdict_that_passed_every_gate(store: StrategyStore) -> None:
    store.add(make_record("weak", status="awaiting_approval", passed=False))
    store.transition("weak", "approved", "script:ops", "ok",
                     provenance=store.get("weak").provenance.model_copy(update={"approval": Approval(
                         by="script:ops", at="now", reason="ok")}))

    with pytest.raises(IllegalTransition, match="did not pass every gate"):
        store.transition("weak", "live", "ai", "gate open")


def test_unknown_id_and_unknown_status_are_clear_errors(store: StrategyStore) -> None:
    with pytest.raises(UnknownStrategy, match="unknown strategy id 'nope'"):
        store.get("nope")
    with pytest.raises(ValueError, match="unknown status"):
        store.list("flying")
    store.add(make_record("s1"))
    with pytest.raises(ValueError, match="already exists"):
        store.add(make_record("s1"))


def test_counts_list_and_tradable_by_mode(store: StrategyStore) -> None:
    store.add(make_record("a", status="dry_run"))
    store.add(make_record("b", status="live"))
    store.add(make_record("c", status="rejected"))

    assert store.counts()["dry_run"] == 1
    assert store.counts()["live"] == 1
    assert store.counts()["rejected"] == 1
    assert [r.id for r in store.list("active")] == ["b"]
    assert [r.id for r in store.list("retired")] == ["c"]
    assert [r.id for r in store.tradable("replay")] == ["a"]
    assert store.tradable("live") == []
    assert [r.id for r in store.tradable("live", live_gate_open=True)] == ["b"]


def test_reload_keeps_the_newer_of_two_copies(store: StrategyStore, tmp_path, clock, events) -> None:
    store.add(make_record("s1", status="awaiting_approval"))
    old = tmp_path / "strategies" / "testing" / "s1.json"
    stale = old.read_bytes()
    store.transition("s1", "approved", "script:ops", "go")
    old.write_bytes(stale)  # what a kill between "write new" and "unlink old" leaves

    again = StrategyStore(tmp_path / "strategies", tmp_path / "q", clock.now_ms, events.append)

    assert again.get("s1").status == "approved"
    assert again.duplicates_resolved == 1
    assert sorted(p.parent.name for p in (tmp_path / "strategies").rglob("s1.json")) == ["active"]


def test_a_damaged_file_is_quarantined_not_trusted(store: StrategyStore, tmp_path, clock) -> None:
    store.add(make_record("s1"))
    (tmp_path / "strategies" / "testing" / "bad.json").write_text('{"id": "bad", "status": ')

    again = StrategyStore(tmp_path / "strategies", tmp_path / "q", clock.now_ms)

    assert [r.id for r in again.list()] == ["s1"]
    assert len(list((tmp_path / "q").iterdir())) == 1


def test_a_hand_moved_file_goes_back_to_its_status_folder(store: StrategyStore, tmp_path, clock) -> None:
    store.add(make_record("s1", status="live"))
    shutil.move(tmp_path / "strategies" / "active" / "s1.json", tmp_path / "strategies" / "retired" / "s1.json")

    StrategyStore(tmp_path / "strategies", tmp_path / "q", clock.now_ms)

    assert (tmp_path / "strategies" / "active" / "s1.json").exists()
    assert not (tmp_path / "strategies" / "retired" / "s1.json").exists()


def test_trade_results_are_recorded_once(store: StrategyStore) -> None:
    store.add(make_record("s1", status="dry_run"))
    trade = ClosedTrade(mode="dry_run", symbol="BTC/USDT", side="long", entry_ts=1, exit_ts=2, entry_price=100.0,
                        exit_price=101.0, qty_base=1.0, pnl_quote=1.0, ret=0.01)

    store.record_trade_result("s1", trade)
    store.record_trade_result("s1", trade)

    assert len(store.get("s1").trades) == 1
    with pytest.raises(ValueError, match="unknown performance key"):
        store.update_performance("s1", "paper", {})
