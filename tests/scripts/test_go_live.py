"""go_live.py: the double gate from a shell — config check, typed confirmation, the bot's own code gate.

The replay bot cannot run in live mode offline, so the full "goes live" path runs against the
real inbox processor, command registry, Controller and GoLiveGate in this test's event loop (a
live-mode config), with a stand-in process holding the pid file so the script sees a bot.
The refusals run against a real replay bot.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from src.app.control_commands import register_control_commands
from src.app.supervisor import Supervisor
from src.control.golive import ConfirmationCodes, GoLiveGate, register_golive_commands
from src.state.control import Controller
from src.state.inbox import CommandRegistry, InboxProcessor
from tests.foundation.helpers import make_ctx
from tests.scripts.conftest import REPO, BotUnderTest, run_script

LIVE_CONFIG = {"mode": "live", "live": {"allow_live_trading": True}}


def _config_file(folder: Path, body: dict) -> Path:
    path = folder / "gate-config.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


class InProcessGate:
    """The bot's command side (inbox → registry → gate → control.json) without its market feed."""

    def __init__(self, root: Path) -> None:
        self.ctx = make_ctx(root, LIVE_CONFIG)
        self.control = Controller(self.ctx.store)
        registry = CommandRegistry()
        register_control_commands(self.ctx, registry, self.control, Supervisor(self.ctx))
        register_golive_commands(registry, GoLiveGate(self.ctx.config, self.control, ConfirmationCodes()))
        self.processor = InboxProcessor(self.ctx.paths.inbox, self.ctx.paths.outbox, registry, poll_s=0.05)


@pytest.fixture
async def gate(tmp_path: Path, impostor_factory) -> AsyncIterator[InProcessGate]:
    root = tmp_path / "root"
    g = InProcessGate(root)
    impostor_factory(root)
    task = asyncio.create_task(g.processor.run())
    try:
        yield g
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _go_live(root: Path, config: Path, typed: str, *extra: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(REPO / "scripts" / "go_live.py"), "--root", str(root), "--config", str(config),
        "--timeout", "10", *extra, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(typed.encode()), timeout=60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_typed_confirmation_goes_live(gate: InProcessGate, tmp_path: Path) -> None:
    code, out, err = await _go_live(gate.ctx.paths.root, _config_file(tmp_path, LIVE_CONFIG), "GO LIVE\n")

    assert code == 0, out + err
    assert "GO LIVE: real orders with real money" in out
    assert "LIVE trading confirmed" in out
    saved = json.loads((gate.ctx.paths.state / "control.json").read_text())
    assert saved["live"]["by"].startswith("script:")
    assert len(saved["live"]["key_fingerprint"]) == 16


@pytest.mark.parametrize("typed", ["go live\n", "GO LIVE NOW\n", "yes\n", ""])
async def test_anything_but_the_phrase_changes_nothing(gate: InProcessGate, tmp_path: Path, typed: str) -> None:
    code, out, err = await _go_live(gate.ctx.paths.root, _config_file(tmp_path, LIVE_CONFIG), typed)

    assert code == 5, out + err
    assert "not confirmed" in err
    assert gate.control.state.live_confirmed is False
    assert gate.processor.processed == 1  # the status for the preview, and no go-live request


async def test_json_mode_still_asks(gate: InProcessGate, tmp_path: Path) -> None:
    code, out, err = await _go_live(gate.ctx.paths.root, _config_file(tmp_path, LIVE_CONFIG), "GO LIVE\n", "--json")

    assert code == 0, out + err
    assert "Type GO LIVE" in err  # the prompt and preview go to stderr, the JSON alone to stdout
    assert json.loads(out)["ok"] is True


def test_yes_cannot_skip_the_confirmation(tmp_path: Path) -> None:
    ran = run_script("go_live.py", tmp_path, "--yes", stdin="GO LIVE\n")

    assert ran.code == 2
    assert "no --yes" in ran.err


def test_config_that_forbids_live_sends_nothing(shared_bot: BotUnderTest, tmp_path: Path) -> None:
    config = _config_file(tmp_path, {"mode": "live", "live": {"allow_live_trading": False}})

    ran = run_script("go_live.py", shared_bot.root, "--config", str(config), stdin="GO LIVE\n")

    assert ran.code == 5
    assert "allow_live_trading is false" in ran.err
    assert "Type GO LIVE" not in ran.out
    assert json.loads((shared_bot.root / "state" / "control.json").read_text())["live"] is None


def test_the_bots_own_gate_has_the_last_word(shared_bot: BotUnderTest, tmp_path: Path) -> None:
    """Even if the script is pointed at a permissive config, the replay bot's gate refuses."""
    ran = run_script("go_live.py", shared_bot.root, "--config", str(_config_file(tmp_path, LIVE_CONFIG)),
                     stdin="GO LIVE\n")

    assert ran.code == 1, ran.out + ran.err
    assert re.search(r"equity\s+[\d,]+\.\d\d USDT", ran.out), ran.out  # the preview shows the bot's equity
    assert "cannot go live" in ran.err
    assert "replay mode" in ran.err
    assert json.loads((shared_bot.root / "state" / "control.json").read_text())["live"] is None


def test_default_config_of_the_running_bot_is_used(shared_bot: BotUnderTest) -> None:
    ran = run_script("go_live.py", shared_bot.root, stdin="GO LIVE\n")

    assert ran.code == 5  # the repo's config.yaml does not allow live
    assert "cannot go live" in ran.err


def test_bot_down(tmp_path: Path) -> None:
    ran = run_script("go_live.py", tmp_path, "--json", stdin="GO LIVE\n")

    assert ran.code == 3
    assert "not running" in ran.json()["error"]
