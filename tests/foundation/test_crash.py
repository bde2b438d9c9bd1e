"""Crash test: kill -9 at random moments, hundreds of times; every state file must stay valid.

A forked child hammers the real state store (control flags, heartbeat, replay cursor, inbox
commands executed into the outbox) with fsynced atomic writes; the parent SIGKILLs it at a random
moment, checks every file under ``state/`` against its schema, and starts the next child on the
same folder (the next start). A second test does the same to the real bot process.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from src.app.supervisor import Heartbeat
from src.market.replay import ReplayCursor
from src.state.control import Controller, ControlState
from src.state.inbox import CommandRegistry, CommandResult, InboxCommand, InboxProcessor, drop_command
from src.state.store import StateStore, sweep_temp_files

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = {"control.json": ControlState, "heartbeat.json": Heartbeat, "replay_cursor.json": ReplayCursor}


def _writer(state: Path) -> None:
    """Child body: restart-recover, then write state as fast as the disk allows until killed."""
    sweep_temp_files(state)
    store = StateStore(state)
    ctrl = Controller(store)
    cur = store.load("replay_cursor.json", ReplayCursor)
    n = cur.last_ts_ms if cur else 0
    reg = CommandRegistry()

    async def noop(args: dict[str, str], actor: str):
        return True, "ok", {"n": n}

    reg.register("pause", noop)
    inbox, outbox = state / "inbox", state / "outbox"
    proc = InboxProcessor(inbox, outbox, reg)
    loop = asyncio.new_event_loop()
    os.write(1, b"R")
    while True:
        n += 1
        if n % 2:
            ctrl.pause("crash-test", f"n={n}")
        else:
            ctrl.resume("crash-test")
        store.save("heartbeat.json", Heartbeat(pid=os.getpid(), mode="replay", state="running", started_at="t",
                                               updated_at="t", updated_at_epoch=float(n)))
        store.save("replay_cursor.json", ReplayCursor(source="crash", last_ts_ms=n))
        if n % 3 == 0:
            drop_command(inbox, "pause")
            loop.run_until_complete(proc.process_once())


def _check_state(state: Path) -> int:
    for name, model in SCHEMAS.items():
        path = state / name
        if path.exists():
            model.model_validate_json(path.read_bytes())
    for path in (state / "inbox").glob("*.json"):
        InboxCommand.model_validate_json(path.read_bytes())
    for path in (state / "outbox").glob("*.json"):
        CommandResult.model_validate_json(path.read_bytes())
    assert not (state / "quarantine").exists(), "a file was found corrupt after a kill"
    cur = state / "replay_cursor.json"
    return ReplayCursor.model_validate_json(cur.read_bytes()).last_ts_ms if cur.exists() else 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_state_store_survives_200_kills(tmp_path: Path) -> None:
    state = tmp_path / "state"
    for sub in ("inbox", "outbox"):
        (state / sub).mkdir(parents=True)
    rng = random.Random(1234)
    last_cursor = 0
    for _ in range(200):
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # child
            os.close(read_fd)
            os.dup2(write_fd, 1)
            try:
                _writer(state)
            finally:
                os._exit(1)
        os.close(write_fd)
        assert os.read(read_fd, 1) == b"R", "child failed to start on the state left by the last kill"
        time.sleep(rng.uniform(0.0, 0.03))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(read_fd)
        cursor = _check_state(state)
        assert cursor >= last_cursor, "an acknowledged write was lost"
        last_cursor = cursor
    assert last_cursor > 0, "the writer never completed a write between kills"
    assert Controller(StateStore(state)).state is not None


def test_real_bot_survives_random_kills(tmp_path: Path) -> None:
    rng = random.Random(99)
    cmd = [sys.executable, str(REPO / "ai_trading_lab.py"), "--root", str(tmp_path), "--speed", "360000"]
    for i in range(8):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.5, 3.0) if i % 2 else rng.uniform(0.05, 0.8))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        _check_state(tmp_path / "state")
        for path in (tmp_path / "strategies").rglob("*.json"):
            json.loads(path.read_text())
    final = subprocess.run([*cmd, "--duration", "2"], capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, final.stderr[-2000:]
    assert not (tmp_path / "state" / "quarantine").exists()
