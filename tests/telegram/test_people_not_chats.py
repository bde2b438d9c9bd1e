"""Authority belongs to a person (the sender's user id); a group is only a place where allowed people speak."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from src.config.secrets import load_secrets
from tests.telegram.conftest import ADMIN, STRANGER, VIEWER, CockpitFactory, Harness, registry_recorder

LIVE_OK = {"mode": "live", "live": {"allow_live_trading": True}}
ROOM = -4711  # an ordinary group: negative chat id, every member has their own user id
ELSEWHERE = -4812  # a group nobody configured
REPO = Path(__file__).resolve().parents[2]


def control_bytes(h: Harness) -> bytes:
    return (h.ctx.paths.state / "control.json").read_bytes()


def code_in(text: str) -> str:
    return text.rsplit("/confirm ", 1)[1].split()[0]


async def room(cockpit_factory: CockpitFactory, **kwargs: object) -> Harness:
    return await cockpit_factory(admins=(ADMIN,), viewers=(VIEWER,), groups=(ROOM,), **kwargs)


async def test_a_stranger_in_the_group_cannot_go_live(cockpit_factory: CockpitFactory,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    h = await room(cockpit_factory, config=LIVE_OK)
    caplog.set_level(logging.WARNING, logger="src.telegram.access")
    before = control_bytes(h)
    in_room = len(h.fake.sent_to(ROOM))
    h.fake.push_command(ROOM, "/golive", user_id=STRANGER)
    h.fake.push_command(ROOM, "/confirm 123456", user_id=STRANGER)
    h.fake.push_command(ROOM, "/pause", user_id=STRANGER)
    await h.settle()
    assert len(h.fake.sent_to(ROOM)) == in_room  # silence: not even "not allowed"
    assert not h.control.state.live_confirmed
    assert control_bytes(h) == before
    code = code_in((await h.ask(ROOM, "/golive", user_id=ADMIN)).text)  # the admin may speak in the room
    h.fake.push_command(ROOM, f"/confirm {code}", user_id=STRANGER)  # a stranger reads the code and tries it
    await h.settle()
    assert not h.control.state.live_confirmed
    assert control_bytes(h) == before
    assert len(h.fake.sent_to(ROOM)) == in_room + 1
    assert "LIVE trading confirmed" in (await h.ask(ROOM, f"/confirm {code}", user_id=ADMIN)).text
    assert json.loads(control_bytes(h))["live"]["by"] == f"telegram:{ADMIN}"
    assert sum(str(STRANGER) in r.getMessage() for r in caplog.records) == 1  # logged once, then rate-limited


async def test_a_stranger_cannot_press_the_buttons_in_the_group(cockpit_factory: CockpitFactory) -> None:
    h = await room(cockpit_factory)
    registry_recorder(h, "approve")
    h.fake.push_callback(ROOM, "approve:S1", user_id=STRANGER)
    await h.settle()
    assert h.calls == []
    assert h.fake.callback_answers == []
    h.fake.push_callback(ROOM, "approve:S1", user_id=ADMIN)
    await h.settle()
    assert h.calls == [("approve", {"id": "S1"}, f"telegram:{ADMIN}")]


async def test_a_viewer_in_the_group_reads_only(cockpit_factory: CockpitFactory) -> None:
    h = await room(cockpit_factory)
    assert "replay mode" in (await h.ask(ROOM, "/status", user_id=VIEWER)).text
    assert "for admins" in (await h.ask(ROOM, "/pause", user_id=VIEWER)).text
    assert h.control.state.entries_allowed


async def test_an_admin_in_an_unconfigured_group_is_not_obeyed(cockpit_factory: CockpitFactory) -> None:
    h = await room(cockpit_factory)
    h.fake.push_command(ELSEWHERE, "/pause", user_id=ADMIN)  # strangers there would read every answer
    await h.settle()
    assert h.fake.sent_to(ELSEWHERE) == []
    assert h.control.state.entries_allowed


async def test_a_command_for_another_bot_is_ignored(cockpit_factory: CockpitFactory) -> None:
    h = await room(cockpit_factory)
    h.fake.push_command(ADMIN, "/pause@some_other_bot")
    h.fake.push_command(ROOM, "/pause@some_other_bot", user_id=ADMIN)
    await h.settle()
    assert h.control.state.entries_allowed
    assert not any("paused" in m.text for m in h.fake.sent_to(ADMIN) + h.fake.sent_to(ROOM))
    assert "paused" in (await h.ask(ROOM, "/pause@Fake_Bot", user_id=ADMIN)).text  # usernames ignore case
    assert not h.control.state.entries_allowed


async def test_people_in_a_group_chatting_get_no_hint(cockpit_factory: CockpitFactory) -> None:
    h = await room(cockpit_factory)
    in_room = len(h.fake.sent_to(ROOM))
    h.fake.push_command(ROOM, "anyone around?", user_id=ADMIN)
    await h.settle()
    assert len(h.fake.sent_to(ROOM)) == in_room
    assert "/help" in (await h.ask(ADMIN, "hello")).text  # in private the bot points at /help


def test_a_group_id_in_the_old_variable_stops_start_up() -> None:
    with pytest.raises(ValueError, match="TELEGRAM_CHAT_IDS: -1001234 is a group chat id"):
        load_secrets(env={"TELEGRAM_CHAT_IDS": "42,-1001234"})
    with pytest.raises(ValueError, match="TELEGRAM_VIEWER_IDS: -5 is a group"):
        load_secrets(env={"TELEGRAM_ADMIN_IDS": "42", "TELEGRAM_VIEWER_IDS": "-5"})
    with pytest.raises(ValueError, match="set TELEGRAM_ADMIN_IDS only"):
        load_secrets(env={"TELEGRAM_ADMIN_IDS": "42", "TELEGRAM_CHAT_IDS": "42"})


def test_people_and_places_are_read_apart() -> None:
    s = load_secrets(env={"TELEGRAM_ADMIN_IDS": "42, 43", "TELEGRAM_VIEWER_IDS": "7",
                          "TELEGRAM_NOTIFY_CHAT_IDS": f"{ROOM}"})
    assert (s.telegram_admin_ids, s.telegram_viewer_ids, s.telegram_notify_chat_ids) == ((42, 43), (7,), (ROOM,))
    assert load_secrets(env={"TELEGRAM_CHAT_IDS": "42"}).telegram_admin_ids == (42,)  # the old name still works


def test_the_entry_point_refuses_a_group_as_admin_with_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEGRAM_")}
    env["TELEGRAM_CHAT_IDS"] = "-1001234"
    proc = subprocess.run([sys.executable, str(REPO / "ai_trading_lab.py"), "--root", str(tmp_path),
                           "--duration", "1"], capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2
    assert len(lines) == 1
    assert lines[0].startswith("environment: TELEGRAM_CHAT_IDS: -1001234 is a group chat id")
