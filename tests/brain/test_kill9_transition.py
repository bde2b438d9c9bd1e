"""A real ``kill -9`` during strategy moves leaves exactly one copy, and never an older one."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from ai_brain.discovery.lifecycle import transition_problem
from ai_brain.discovery.strategy_store import StrategyStore
from tests.brain.conftest import make_record

REPO = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    from ai_brain.discovery.lifecycle import transition_problem
    from ai_brain.discovery.strategy_store import StrategyStore
    root = Path(sys.argv[1])
    store = StrategyStore(root / "strategies", root / "quarantine", lambda: 0, allowed=transition_problem)
    cycle = {"dry_run": ("awaiting_approval", "ai"), "awaiting_approval": ("approved", "script:test"),
             "approved": ("dry_run", "ai")}
    print("ready", flush=True)
    while True:
        for sid in ("k1", "k2"):
            to, actor = cycle[store.get(sid).status]
            rec = store.transition(sid, to, actor, "churn")
            print(sid, rec.revision, flush=True)
""")


def _copies(root: Path, sid: str) -> list[Path]:
    return sorted((root / "strategies").rglob(f"{sid}.json"))


def test_kill_minus_9_during_moves_leaves_exactly_one_newest_copy(tmp_path: Path) -> None:
    store = StrategyStore(tmp_path / "strategies", tmp_path / "quarantine", lambda: 0, allowed=transition_problem)
    for sid in ("k1", "k2"):
        store.add(make_record(sid, status="dry_run"))
    rng = random.Random(5)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for _round in range(8):
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                                 env=env, cwd=REPO)
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.02, 0.25))
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        reported = {}
        for line in child.stdout.read().splitlines():
            sid, rev = line.split()
            reported[sid] = int(rev)
        child.stdout.close()

        again = StrategyStore(tmp_path / "strategies", tmp_path / "quarantine", lambda: 0,
                              allowed=transition_problem)
        for sid in ("k1", "k2"):
            assert len(_copies(tmp_path, sid)) == 1, f"round {_round}: {sid} has {_copies(tmp_path, sid)}"
            rec = again.get(sid)
            assert rec.revision >= reported.get(sid, 0), "a completed move was lost"
            assert _copies(tmp_path, sid)[0].parent.name == rec.folder
            assert len(rec.history) == rec.revision  # one history line per write, none lost or doubled
    quarantined = list((tmp_path / "quarantine").glob("*")) if (tmp_path / "quarantine").exists() else []
    assert quarantined == [], "a kill must never leave a torn strategy file"
