"""Fixtures for the management scripts: a real bot in replay mode on a temp root, scripts as subprocesses.

Scripts are run the way a person runs them (``python scripts/x.py`` from another directory), so
the tests also prove the repo root is found from anywhere.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable


@dataclass
class Ran:
    """A finished script run."""

    code: int
    out: str
    err: str

    def json(self) -> dict:
        return json.loads(self.out)


def run_script(name: str, root: Path, *args: str, stdin: str = "", timeout_s: float = 60.0,
               env: dict[str, str] | None = None) -> Ran:
    """Run ``scripts/<name>`` with ``--root root`` from a directory that is not the repo."""
    cmd = [PY, str(REPO / "scripts" / name), "--root", str(root), *args]
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout_s,
                          cwd=root.parent, env=env)
    return Ran(proc.returncode, proc.stdout, proc.stderr)


def light_config(folder: Path) -> Path:
    """The repo's config.yaml without the brain cycle and with a short warm-up: the same bot, started
    in about a second instead of five (the scripts talk to its inbox and control, not to the brain)."""
    body = yaml.safe_load((REPO / "config.yaml").read_text())
    body["brain"]["enabled"] = False
    body["replay"]["warmup_bars"] = 300
    path = folder / "bot-config.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


class BotUnderTest:
    """``python ai_trading_lab.py --root ROOT`` in replay mode; always killed at teardown."""

    def __init__(self, root: Path, *extra: str) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.log = root.parent / f"{root.name}-bot.log"
        config = light_config(root.parent)
        with self.log.open("ab") as fh:
            self.proc = subprocess.Popen([PY, str(REPO / "ai_trading_lab.py"), "--root", str(root), "--config",
                                          str(config), "--speed", "36000", "--duration", "120", *extra], cwd=REPO,
                                         stdout=fh, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        self.has_candidates = False

    def wait_running(self, timeout_s: float = 30.0) -> None:
        """Until the bot's own heartbeat names this pid and says running, and the pid file exists."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"bot exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                hb = json.loads((self.root / "state" / "heartbeat.json").read_text())
                if hb.get("pid") == self.pid and hb.get("state") == "running" and \
                        (self.root / "state" / "bot.pid").exists():
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        raise AssertionError(f"bot did not come up in {timeout_s}s: {self.log.read_text()[-2000:]}")

    def heartbeat(self) -> dict:
        return json.loads((self.root / "state" / "heartbeat.json").read_text())

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[BotUnderTest]:
    """A running bot of its own (for tests that stop or change it)."""
    b = BotUnderTest(tmp_path / "root")
    try:
        b.wait_running()
        yield b
    finally:
        b.kill()


CANDIDATES = ("mom-test-1", "mom-test-2")


def add_candidates(root: Path) -> bool:
    """Strategies awaiting approval, written through the AI brain's repository API before the bot
    starts (it loads them at start-up); False while that API does not exist."""
    try:
        from ai_brain.discovery import strategy_store as store_mod
        from src.strategy.spec import family_spec
    except ImportError:
        return False
    store = store_mod.StrategyStore(root / "strategies", root / "state" / "quarantine", now_ms=lambda: 0)
    for sid in CANDIDATES:
        spec = family_spec("momentum", id=sid, name=f"momentum {sid}", symbols=["BTC/USDT"], timeframe="1h")
        store.add(store_mod.StrategyRecord(
            id=sid, name=spec.name, type="momentum", status="awaiting_approval", spec=spec,
            source=store_mod.Source(generator="templates", reasoning="test fixture", hypothesis_id=f"h-{sid}"),
            provenance=store_mod.Provenance(hypothesis_id=f"h-{sid}"),
            created_at="2026-01-01T00:00:00Z", updated_at="2026-01-01T00:00:00Z"), actor="test", reason="fixture")
    return True


@pytest.fixture(scope="package")
def shared_bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotUnderTest]:
    """One running bot for every test that only reads, pauses it briefly, gets refused, or approves
    one of the two candidate strategies it was started with (bot starts are the slow part)."""
    root = tmp_path_factory.mktemp("shared") / "root"
    has_candidates = add_candidates(root)
    b = BotUnderTest(root)
    b.has_candidates = has_candidates
    try:
        b.wait_running()
        yield b
    finally:
        b.kill()


class Impostor:
    """A process whose command line says ai_trading_lab but that never reads its inbox.

    It exits on SIGTERM (like a bot whose event loop is stuck in a call the inbox never gets past)
    unless ``ignore_term``; registered as the bot of ``root`` through ``state/bot.pid``.
    """

    CODE = ("import signal, sys, time\n"
            "if sys.argv[1] == 'ignore': signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "else: signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\n"
            "print('ready', flush=True)\n"
            "while True: time.sleep(0.05)\n")

    def __init__(self, root: Path, ignore_term: bool = False, write_pid: bool = True,
                 argv_root: Path | None = None) -> None:
        argv = [PY, "-c", self.CODE, "ignore" if ignore_term else "obey", "ai_trading_lab"]
        if argv_root is not None:
            argv += ["--root", str(argv_root)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "ready"
        self.pid = self.proc.pid
        if write_pid:
            (root / "state").mkdir(parents=True, exist_ok=True)
            (root / "state" / "bot.pid").write_text(f"{self.pid}\n")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def impostor_factory() -> Iterator:
    made: list[Impostor] = []

    def make(root: Path, ignore_term: bool = False, write_pid: bool = True,
             argv_root: Path | None = None) -> Impostor:
        imp = Impostor(root, ignore_term, write_pid, argv_root)
        made.append(imp)
        return imp

    yield make
    for imp in made:
        imp.kill()
