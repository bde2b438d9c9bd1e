"""Strangers get silence, viewers read only, and the Telegram double gate goes nowhere without a valid code."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from src.core.events import Alert, StrategyEvent
from tests.telegram.conftest import ADMIN, ADMIN2, STRANGER, VIEWER, CockpitFactory, Harness, registry_recorder

LIVE_OK = {"mode": "live", "live": {"allow_live_trading": True}}


def control_bytes(h: Harness) -> bytes:
    return (h.ctx.paths.state / "control.json").read_bytes()


async def test_unknown_chat_gets_nothing_and_changes_nothing(cockpit: Harness,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    registry_recorder(cockpit, "approve")
    before = control_bytes(cockpit)
    caplog.set_level(logging.WARNING, logger="src.telegram.access")
    for text in ("/status", "/pause", "/golive", "/stop flatten", "/confirm 123456", "/help", "hi"):
        cockpit.fake.push_command(STRANGER, text)
    cockpit.fake.push_callback(STRANGER, "approve:S1")
    await cockpit.settle()
    assert cockpit.fake.sent_to(STRANGER) == []
    assert cockpit.fake.callback_answers == []
    assert control_bytes(cockpit) == before
    assert cockpit.calls == []
    stranger_logs = [r for r in caplog.records if str(STRANGER) in r.getMessage()]
    assert len(stranger_logs) == 1  # logged once, then rate-limited
    assert cockpit.bot is not None
    assert cockpit.bot.access.stranger_messages == 8


async def test_viewer_reads_but_cannot_change(cockpit: Harness) -> None:
    registry_recorder(cockpit, "approve")
    before = control_bytes(cockpit)
    assert "replay mode" in (await cockpit.ask(VIEWER, "/status")).text
    for text in ("/pause", "/golive", "/stop", "/approve S1", "/paper", "/logs 5"):
        assert "for admins" in (await cockpit.ask(VIEWER, text)).text, text
    help_text = (await cockpit.ask(VIEWER, "/help")).text
    assert "/status" in help_text
    assert "/pause" not in help_text
    cockpit.fake.push_callback(VIEWER, "approve:S1")
    await cockpit.settle()
    assert cockpit.calls == []
    assert control_bytes(cockpit) == before
    assert cockpit.fake.callback_answers[-1]["text"] == "admins only"


def code_in(text: str) -> str:
    return text.rsplit("/confirm ", 1)[1].split()[0]


async def test_golive_without_confirm_or_with_wrong_code_goes_nowhere(cockpit_factory: CockpitFactory) -> None:
    h = await cockpit_factory(config=LIVE_OK)
    before = control_bytes(h)
    code = code_in((await h.ask(ADMIN, "/golive")).text)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    assert "wrong code" in (await h.ask(ADMIN, f"/confirm {wrong}")).text
    assert "nothing is waiting" in (await h.ask(ADMIN2, f"/confirm {code}")).text  # another admin's code
    assert not h.control.state.live_confirmed
    assert control_bytes(h) == before
    assert "LIVE trading confirmed" in (await h.ask(ADMIN, f"/confirm {code}")).text
    assert json.loads(control_bytes(h))["live"]["by"] == f"telegram:{ADMIN}"
    assert "paper trading" in (await h.ask(ADMIN, "/paper")).text
    assert not h.control.state.live_confirmed


async def test_golive_code_expires(cockpit_factory: CockpitFactory) -> None:
    h = await cockpit_factory(config=LIVE_OK, telegram={"confirm_code_ttl_s": 0.3})
    before = control_bytes(h)
    code = code_in((await h.ask(ADMIN, "/golive")).text)
    await asyncio.sleep(0.35)
    assert "expired" in (await h.ask(ADMIN, f"/confirm {code}")).text
    assert not h.control.state.live_confirmed
    assert control_bytes(h) == before


async def test_golive_refused_when_config_forbids(cockpit_factory: CockpitFactory) -> None:
    h = await cockpit_factory(config={"mode": "live"})
    reply = (await h.ask(ADMIN, "/golive")).text
    assert "cannot go live" in reply
    assert "allow_live_trading" in reply
    assert "/confirm" not in reply


async def test_stop_needs_its_code(cockpit: Harness) -> None:
    reply = (await cockpit.ask(ADMIN, "/stop flatten")).text
    assert "flatten is not available" in reply  # nothing registered that can flatten: refuse, don't half-do it
    code = code_in((await cockpit.ask(ADMIN, "/stop")).text)
    assert not cockpit.supervisor.stop_event.is_set()
    assert "stopping" in (await cockpit.ask(ADMIN, f"/confirm {code}")).text
    await asyncio.wait_for(cockpit.supervisor.stop_event.wait(), 2)


async def test_approval_while_live_takes_a_code(cockpit_factory: CockpitFactory) -> None:
    h = await cockpit_factory(config=LIVE_OK)
    registry_recorder(h, "approve")
    h.control.confirm_live("test")
    reply = (await h.ask(ADMIN, "/approve S1")).text
    assert "REAL money" in reply
    assert h.calls == []
    await h.ask(ADMIN, f"/confirm {code_in(reply)}")
    assert h.calls == [("approve", {"id": "S1"}, f"telegram:{ADMIN}")]


def write_record(h: Harness, sid: str, status: str) -> None:
    record = {"id": sid, "name": f"{sid} ema", "status": status, "spec": {"symbols": ["BTC/USDT"], "timeframe": "1h"},
              "performance": {"out_of_sample": {"trades": 9, "total_return": 0.0412, "sharpe": 1.1}}}
    (h.ctx.paths.strategies / "testing" / f"{sid}.json").write_text(json.dumps(record))


async def test_buttons_only_on_a_strategy_awaiting_approval(cockpit: Harness) -> None:
    """A discovery (now dry_run) has no buttons: the lifecycle would refuse them."""
    write_record(cockpit, "S6", "dry_run")
    write_record(cockpit, "S7", "awaiting_approval")
    cockpit.ctx.bus.publish(Alert("info", "Strategy discovered: S6", "now dry_run", key="discovery:S6"))
    cockpit.ctx.bus.publish(Alert("action", "Approval waiting: S7", "passed out-of-sample", key="approval:S7"))
    found, waiting = (await cockpit.fake.wait_sent(3, chat_id=ADMIN))[1:3]
    assert found.text.startswith("🔬 New strategy S6 — dry_run")
    assert found.reply_markup is None
    assert found.parse_mode == "HTML"
    assert "+4.12%" in found.text
    assert waiting.text.startswith("❗ Approval waiting: S7")
    assert waiting.reply_markup is not None
    assert [b["callback_data"] for b in waiting.reply_markup["inline_keyboard"][0]] == ["approve:S7", "reject:S7"]


@pytest.mark.parametrize("action", ["approve", "reject"])
async def test_a_pressed_button_edits_its_message_and_sends_nothing_else(cockpit: Harness, action: str) -> None:
    registry_recorder(cockpit, action, message=lambda a: f"{a['id']} {action}d")
    write_record(cockpit, "S7", "awaiting_approval")
    cockpit.ctx.bus.publish(Alert("action", "Approval waiting: S7", "passed", key="approval:S7"))
    alert = (await cockpit.fake.wait_sent(2, chat_id=ADMIN))[-1]
    cockpit.fake.push_callback(ADMIN, f"{action}:S7", message_id=alert.message_id)
    await cockpit.settle()
    expected = {"approve": ("approve", {"id": "S7"}),
                "reject": ("reject", {"id": "S7", "reason": "rejected with the Telegram button"})}[action]
    assert [c[:2] for c in cockpit.calls] == [expected]
    assert len(cockpit.fake.callback_answers) == 1
    edit = cockpit.fake.edits[-1]
    assert edit["method"] == "editMessageText"
    assert edit["message_id"] == str(alert.message_id)
    assert edit["text"].startswith("❗ Approval waiting: S7")
    done = {"approve": "✅ approved", "reject": "❌ rejected"}[action]
    assert edit["text"].endswith(f"{done} by @name{ADMIN}")
    assert "reply_markup" not in edit
    answers = [m for m in cockpit.fake.sent_to(ADMIN) if not m.text.startswith("Commands (")]
    assert len(answers) == 2  # the start-up note and the alert: the press added no message
    assert len(cockpit.fake.sent_to(VIEWER)) == 1  # only the start-up note: action alerts are for admins


async def test_info_alerts_reach_viewers_without_buttons(cockpit: Harness) -> None:
    cockpit.ctx.bus.publish(Alert("info", "Strategy discovered: S8", "details", key="discovery:S8"))
    cockpit.ctx.bus.publish(StrategyEvent("S8", "approved", "approved (by telegram:1)", 0))
    cockpit.ctx.bus.publish(StrategyEvent("S8", "backtested", "noise", 0))
    viewer = await cockpit.fake.wait_sent(3, chat_id=VIEWER)
    assert "Strategy discovered: S8" in viewer[1].text
    assert viewer[1].reply_markup is None
    assert viewer[2].text.startswith("strategy S8 → approved")
    admin = await cockpit.fake.wait_sent(3, chat_id=ADMIN)
    assert admin[1].reply_markup is None  # no strategy file awaiting approval: nothing a button could do
    await asyncio.sleep(0.2)
    assert not any("noise" in m.text for m in cockpit.fake.sent)


async def test_state_changes_of_one_condition_are_not_deduplicated(cockpit: Harness) -> None:
    for title in ("data BTC/USDT: OK → BLOCKED", "data BTC/USDT: OK → BLOCKED", "data BTC/USDT: BLOCKED → OK"):
        cockpit.ctx.bus.publish(Alert("warning", title, "stale", key="data:BTC/USDT"))
    sent = await cockpit.fake.wait_sent(3, chat_id=ADMIN)
    await asyncio.sleep(0.2)
    titles = [m.text.splitlines()[0] for m in cockpit.fake.sent_to(ADMIN)[1:]]
    assert titles == ["⚠️ data BTC/USDT: OK → BLOCKED", "⚠️ data BTC/USDT: BLOCKED → OK"]
    assert len(sent) == 3


async def test_stop_with_flatten_closes_positions_first(cockpit: Harness) -> None:
    registry_recorder(cockpit, "emergency_stop", message=lambda _a: "EMERGENCY STOP: every position sent to close")
    reply = (await cockpit.ask(ADMIN, "/stop flatten")).text
    assert "close every position" in reply
    assert cockpit.calls == []
    answer = (await cockpit.ask(ADMIN, f"/confirm {code_in(reply)}")).text
    assert "EMERGENCY STOP" in answer
    assert "stopping" in answer
    assert [c[0] for c in cockpit.calls] == ["emergency_stop"]
    await asyncio.wait_for(cockpit.supervisor.stop_event.wait(), 2)


async def test_stop_with_flatten_does_not_stop_when_flatten_fails(cockpit: Harness) -> None:
    registry_recorder(cockpit, "emergency_stop", ok=False, message=lambda _a: "exchange unreachable")
    reply = (await cockpit.ask(ADMIN, "/stop flatten")).text
    answer = (await cockpit.ask(ADMIN, f"/confirm {code_in(reply)}")).text
    assert "NOT stopping" in answer
    assert "exchange unreachable" in answer
    assert not cockpit.supervisor.stop_event.is_set()


async def test_a_typed_approve_is_one_message_to_the_person_who_typed_it(cockpit: Harness) -> None:
    """The lifecycle announces the approval on the bus; the approver already has the answer."""

    async def approve(args: dict[str, str], actor: str) -> tuple[bool, str, dict[str, str]]:
        # what the strategy store publishes on a transition (ai_brain/discovery/strategy_store.py)
        cockpit.ctx.bus.publish(StrategyEvent(args["id"], "approved", f"approved (by {actor})", 0, actor=actor))
        return True, f"{args['id']} approved by {actor}", {}

    cockpit.ctx.services["commands"].register("approve", approve, "test approve")
    before = {chat: len(cockpit.fake.sent_to(chat)) for chat in (ADMIN, ADMIN2, VIEWER)}
    reply = await cockpit.ask(ADMIN, "/approve S1")
    assert reply.text.startswith("S1 approved by telegram:")
    others = {chat: (await cockpit.fake.wait_sent(before[chat] + 1, chat_id=chat))[before[chat]:]
              for chat in (ADMIN2, VIEWER)}
    assert all(m[0].text.startswith("strategy S1 → approved") for m in others.values())
    await cockpit.settle()
    mine = [m.text for m in cockpit.fake.sent_to(ADMIN)[before[ADMIN]:] if not m.text.startswith("Commands (")]
    assert mine == [reply.text]  # the answer only: no second message about the same approval
