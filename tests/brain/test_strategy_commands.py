"""Strategy commands through the shared registry: the names Telegram and scripts call."""

from __future__ import annotations

from ai_brain.discovery.strategy_commands import StrategyCommands
from ai_brain.discovery.strategy_store import StrategyStore
from src.state.inbox import CommandRegistry
from tests.brain.conftest import make_record


def _registry(store: StrategyStore) -> CommandRegistry:
    reg = CommandRegistry()
    StrategyCommands(store).register(reg)
    return reg


async def test_approve_records_the_person_and_moves_to_active(store: StrategyStore) -> None:
    store.add(make_record("s1", status="awaiting_approval"))
    reg = _registry(store)

    ok, msg, data = await reg.execute("approve", {"id": "s1"}, "telegram:42")

    rec = store.get("s1")
    assert ok
    assert "approved by telegram:42" in msg
    assert data["status"] == "approved"
    assert rec.folder == "active"
    assert rec.provenance.approval is not None
    assert rec.provenance.approval.by == "telegram:42"
    assert rec.approved_at
    prov = store.provenance_of("s1")
    assert prov["hypothesis_id"] == "hyp-s1"
    assert prov["evaluation_id"] == "ev-s1"
    assert prov["approval"]["by"] == "telegram:42"


async def test_bad_input_is_answered_and_changes_nothing(store: StrategyStore) -> None:
    store.add(make_record("s1", status="dry_run"))
    reg = _registry(store)

    answers = [await reg.execute("approve", {}, "telegram:1"),
               await reg.execute("approve", {"id": "ghost"}, "telegram:1"),
               await reg.execute("approve", {"id": "s1"}, "telegram:1"),
               await reg.execute("reject", {"id": "s1"}, "telegram:1"),
               await reg.execute("strategies", {"status": "flying"}, "telegram:1")]

    assert [ok for ok, _m, _d in answers] == [False] * 5
    assert "usage: approve ID" in answers[0][1]
    assert "unknown strategy id 'ghost'" in answers[1][1]
    assert "cannot go from dry_run to approved" in answers[2][1]
    assert "missing reason" in answers[3][1]
    assert "unknown status" in answers[4][1]
    assert store.get("s1").status == "dry_run"
    assert store.get("s1").revision == 1


async def test_reject_retire_suspend_and_listing(store: StrategyStore) -> None:
    for sid, status in (("a", "awaiting_approval"), ("b", "live"), ("c", "dry_run")):
        store.add(make_record(sid, status=status))
    reg = _registry(store)

    assert (await reg.execute("reject", {"id": "a", "reason": "too few trades"}, "script:ops"))[0]
    assert (await reg.execute("suspend", {"id": "b"}, "telegram:7"))[0]
    assert (await reg.execute("retire", {"id": "c", "reason": "enough"}, "telegram:7"))[0]
    ok, text, data = await reg.execute("strategies", {}, "telegram:7")
    _ok, _t, one = await reg.execute("strategy", {"id": "a"}, "telegram:7")

    assert ok
    assert {s["id"]: s["status"] for s in data["strategies"]} == {"a": "rejected", "b": "dry_run",
                                                                         "c": "retired"}
    assert one["strategy"]["history"][-1]["reason"] == "too few trades"
    assert "rejected 1" in text


async def test_approving_a_demo_strategy_says_it_is_not_proven(store: StrategyStore) -> None:
    store.add(make_record("demo", status="awaiting_approval", passed=False))
    store.add(make_record("good", status="awaiting_approval"))
    reg = _registry(store)

    _ok, demo_msg, demo = await reg.execute("approve", {"id": "demo"}, "telegram:42")
    _ok, good_msg, good = await reg.execute("approve", {"id": "good"}, "telegram:42")

    assert "DEMO — not proven" in demo_msg
    assert demo["proven"] is False
    assert "DEMO" not in good_msg
    assert good["proven"] is True
