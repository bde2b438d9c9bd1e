"""A replay root is bound to the data it replays.

Positions, the paper wallet and the ledgers under a root are prices of one market history:
restarting the same root on other data (another file, another period, the simulator) would
close a 2018 position at 2024 prices. The first replay start writes ``state/replay_binding.json``
with a fingerprint of the source (file names and sizes, or the simulator's settings); a later
start with a different fingerprint is refused in one line that says how to reset. ``--reset``
moves ``state/`` and the ledgers in ``logs/`` aside (into ``reset-<time>/``) and keeps the
strategies, so what was discovered survives and no P&L is mixed.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from src.config import AppConfig
from src.state.store import atomic_write_bytes

BINDING_FILE = "replay_binding.json"
LEDGER_FILES = ("ledger_auto.jsonl", "ledger_manual.jsonl", "equity_curve.jsonl")


def fingerprint(data: tuple[str, ...], simulator: dict[str, object], timeframe: str) -> str:
    """What the replay replays: each file's name and size, or the simulator's settings."""
    if data:
        parts = []
        for spec in sorted(data):
            path = Path(spec.partition("=")[2] if "=" in spec and not Path(spec).exists() else spec)
            size = path.stat().st_size if path.exists() else -1
            parts.append(f"{spec.partition('=')[0] + '=' if '=' in spec and not Path(spec).exists() else ''}"
                         f"{path.name}:{size}")
        return f"files:{timeframe}:" + ",".join(parts)
    return f"simulator:{timeframe}:" + json.dumps(simulator, sort_keys=True, default=str)


def binding_problem(root: Path, source: str) -> str | None:
    """One line when ``root`` was bound to another source; None when it is new or the same."""
    path = root / "state" / BINDING_FILE
    if not path.exists():
        return None
    try:
        bound = str(json.loads(path.read_text(encoding="utf-8"))["source"])
    except (OSError, ValueError, KeyError, TypeError):
        return (f"replay: {path} is unreadable, so the data this root was replayed from is unknown; "
                f"run with --reset to move state and ledgers aside (strategies are kept)")
    if bound == source:
        return None
    return (f"replay: this root was replayed from {bound}, not {source}; mixing them corrupts P&L. "
            f"Use another --root, or run with --reset to move state and ledgers aside (strategies are kept)")


def bind(root: Path, source: str) -> None:
    """Record the source on the first start (atomic); later starts leave the file as it is."""
    path = root / "state" / BINDING_FILE
    if not path.exists():
        atomic_write_bytes(path, json.dumps({"source": source}).encode("utf-8") + b"\n")


def reset_root(root: Path) -> Path:
    """Move ``state/`` and the ledgers aside into ``reset-<UTC time>/``; strategies stay."""
    target = root / f"reset-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    n = 0
    while target.exists():
        n += 1
        target = root / f"reset-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.{n}"
    target.mkdir(parents=True)
    if (root / "state").exists():
        shutil.move(str(root / "state"), str(target / "state"))
    for name in LEDGER_FILES:
        if (root / "logs" / name).exists():
            (target / "logs").mkdir(exist_ok=True)
            shutil.move(str(root / "logs" / name), str(target / "logs" / name))
    return target


def replay_root_problem(root: Path, cfg: AppConfig, reset: bool) -> str | None:
    """The start-up check of a replay: reset when asked, refuse a root bound to other data, bind a new one."""
    rc = cfg.replay
    source = fingerprint(rc.data, rc.simulator.model_dump(), rc.timeframe)
    if reset:
        reset_root(root)
    problem = binding_problem(root, source)
    if problem is None:
        bind(root, source)
    return problem
