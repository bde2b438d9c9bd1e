"""approve_strategy.py: through the bot's inbox only; refuses cleanly when the bot is down."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.scripts.conftest import CANDIDATES, BotUnderTest, run_script


def _skip_unless_wired(ran_out: str) -> None:
    if "unknown command 'approve'" in ran_out or "unknown command 'reject'" in ran_out:
        pytest.skip("waiting on the approve/reject commands being wired into the bot")


@pytest.fixture
def bot_with_candidates(shared_bot: BotUnderTest) -> tuple[BotUnderTest, dict[str, Path]]:
    if not shared_bot.has_candidates:
        pytest.skip("waiting on ai_brain/discovery/strategy_store.py")
    return shared_bot, {sid: shared_bot.root / "strategies" / "testing" / f"{sid}.json" for sid in CANDIDATES}


def test_approve_moves_the_strategy(bot_with_candidates) -> None:
    bot, paths = bot_with_candidates
    path = paths["mom-test-1"]

    ran = run_script("approve_strategy.py", bot.root, "mom-test-1", "--json")

    _skip_unless_wired(ran.out)
    assert ran.code == 0, ran.out + ran.err
    assert ran.json()["ok"] is True
    moved = bot.root / "strategies" / "active" / "mom-test-1.json"
    assert moved.exists()
    assert not path.exists()
    body = json.loads(moved.read_text())
    assert body["status"] == "approved"
    assert body["history"][-1]["actor"].startswith("script:")


def test_reject_with_reason(bot_with_candidates) -> None:
    bot, paths = bot_with_candidates
    path = paths["mom-test-2"]

    ran = run_script("approve_strategy.py", bot.root, "mom-test-2", "--reject", "too few trades")

    _skip_unless_wired(ran.out)
    assert ran.code == 0, ran.out + ran.err
    assert "rejected" in ran.out
    body = json.loads((bot.root / "strategies" / "retired" / "mom-test-2.json").read_text())
    assert body["status"] == "rejected"
    assert body["history"][-1]["reason"] == "too few trades"
    assert not path.exists()


def test_unknown_id_is_refused_by_the_bot(shared_bot: BotUnderTest) -> None:
    ran = run_script("approve_strategy.py", shared_bot.root, "no-such-strategy", "--json")

    assert ran.code == 1, ran.out + ran.err
    out = ran.json()
    assert out["ok"] is False
    assert "unknown" in out["message"]
    assert list((shared_bot.root / "state" / "inbox").iterdir()) == []


def test_bot_down_sends_nothing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "state" / "inbox").mkdir(parents=True)

    ran = run_script("approve_strategy.py", root, "mom-test-1", "--json")

    assert ran.code == 3
    assert ran.json()["ok"] is False
    assert "not running" in ran.json()["error"]
    assert list((root / "state" / "inbox").iterdir()) == []


@pytest.mark.parametrize(("args", "message"), [
    (["bad id!"], "is not a strategy id"),
    (["mom-1", "--reject", "  "], "needs a reason"),
])
def test_bad_input_is_a_usage_error(tmp_path: Path, args: list[str], message: str) -> None:
    ran = run_script("approve_strategy.py", tmp_path, *args)

    assert ran.code == 2
    assert message in ran.err


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the state folder to another user")
def test_another_users_bot_is_not_written_to(tmp_path: Path, impostor_factory) -> None:
    """A 0600 command file from the wrong user would be unreadable to the bot: refuse before writing."""
    root = tmp_path / "root"
    impostor_factory(root)
    (root / "state" / "inbox").mkdir()
    os.chown(root / "state", 65534, 65534)

    ran = run_script("approve_strategy.py", root, "mom-test-1")

    assert ran.code == 1
    assert "run this as the bot's user" in ran.err
    assert list((root / "state" / "inbox").iterdir()) == []
