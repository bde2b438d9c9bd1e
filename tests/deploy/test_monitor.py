"""monitor_bot.sh: restarts a dead, hung or bloated bot, alerts through the Bot API, leaves a held bot alone."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

from tests.deploy.conftest import HttpSink, run_shell

TOKEN = "123456:TEST-token"


def _heartbeat(root: Path, age_s: float) -> None:
    (root / "state").mkdir(parents=True, exist_ok=True)
    (root / "state" / "heartbeat.json").write_text(json.dumps({
        "pid": 1, "mode": "replay", "state": "running", "updated_at_epoch": time.time() - age_s}, indent=2))


def _env(root: Path, sink: HttpSink, **extra: str) -> dict[str, str]:
    env_file = root.parent / "bot.env"
    env_file.write_text(f"# like the bot's .env\nTELEGRAM_BOT_TOKEN='{TOKEN}'\nexport TELEGRAM_CHAT_IDS=11,22\n")
    return {"BOT_ROOT": str(root), "ENV_FILE": str(env_file), "TELEGRAM_API_URL": sink.base_url,
            "RESTART_CMD": f"echo restarted >> {root.parent / 'restarts.txt'}", "STARTUP_GRACE_S": "0",
            "HEALTHCHECK_URL": f"{sink.base_url}/ping/abc", **extra}


def _restarts(root: Path) -> int:
    path = root.parent / "restarts.txt"
    return len(path.read_text().splitlines()) if path.exists() else 0


async def test_stale_heartbeat_restarts_and_alerts(tmp_path: Path, sink: HttpSink, stand_in) -> None:
    root = tmp_path / "root"
    stand_in(root)
    _heartbeat(root, age_s=900)

    code, out = await run_shell("monitor_bot.sh", _env(root, sink, STALE_AFTER_S="120"))

    assert code == 1, out
    assert _restarts(root) == 1
    msgs = sink.messages()
    assert sorted(m["chat_id"] for m in msgs) == ["11", "22"]
    assert all("hung" in m["text"] and "restarted" in m["text"] for m in msgs)
    assert all(p == f"/bot{TOKEN}/sendMessage" for _m, p, _f in sink.requests if p != "/ping/abc")
    assert sink.pings("/ping/abc") == 0  # not healthy: the dead-man switch is not fed
    assert "restarting (bot is hung" in (root / "logs" / "monitor.log").read_text()


async def test_healthy_bot_is_left_alone_and_pings(tmp_path: Path, sink: HttpSink, stand_in) -> None:
    root = tmp_path / "root"
    stand_in(root)
    _heartbeat(root, age_s=2)

    code, out = await run_shell("monitor_bot.sh", _env(root, sink))

    assert code == 0, out
    assert _restarts(root) == 0
    assert sink.messages() == []
    assert sink.pings("/ping/abc") == 1


async def test_dead_bot_is_restarted(tmp_path: Path, sink: HttpSink) -> None:
    root = tmp_path / "root"
    _heartbeat(root, age_s=2)  # fresh file, but no process: a crash a moment ago

    code, out = await run_shell("monitor_bot.sh", _env(root, sink))

    assert code == 1, out
    assert _restarts(root) == 1
    assert "not running" in sink.messages()[0]["text"]


async def test_runaway_memory_restarts(tmp_path: Path, sink: HttpSink, stand_in) -> None:
    root = tmp_path / "root"
    stand_in(root)
    _heartbeat(root, age_s=1)

    code, out = await run_shell("monitor_bot.sh", _env(root, sink, MAX_RSS_MB="1"))

    assert code == 1, out
    assert _restarts(root) == 1
    assert "runaway memory" in sink.messages()[0]["text"]


async def test_young_process_gets_a_startup_grace(tmp_path: Path, sink: HttpSink, stand_in) -> None:
    root = tmp_path / "root"
    stand_in(root)  # started a moment ago, no heartbeat yet (warming up)

    code, out = await run_shell("monitor_bot.sh", _env(root, sink, STARTUP_GRACE_S="300"))

    assert code == 0, out
    assert _restarts(root) == 0
    assert "starting" in out


async def test_operator_hold_is_respected(tmp_path: Path, sink: HttpSink) -> None:
    root = tmp_path / "root"
    _heartbeat(root, age_s=900)
    (root / "STOPPED").write_text("{}")

    code, out = await run_shell("monitor_bot.sh", _env(root, sink))

    assert code == 0, out
    assert _restarts(root) == 0
    assert sink.messages() == []
    assert "held" in out


async def test_restart_loop_gives_up_and_says_so(tmp_path: Path, sink: HttpSink) -> None:
    root = tmp_path / "root"
    env = _env(root, sink, MAX_RESTARTS="2")

    codes = [(await run_shell("monitor_bot.sh", env))[0] for _ in range(4)]

    assert codes == [1, 1, 2, 2]
    assert _restarts(root) == 2
    gave_up = [m for m in sink.messages() if "NOT restarting" in m["text"]]
    assert len(gave_up) == 2  # one per admin chat, not repeated every 5 minutes


async def test_telegram_outage_does_not_stop_the_restart(tmp_path: Path, sink: HttpSink) -> None:
    root = tmp_path / "root"
    sink.status = 502

    code, out = await run_shell("monitor_bot.sh", _env(root, sink, TELEGRAM_RETRIES="0"))

    assert code == 1
    assert _restarts(root) == 1
    assert "telegram alert not sent" in out
    assert len(sink.messages()) == 2  # both admins were tried


async def test_logs_are_rotated_but_not_the_bots_own(tmp_path: Path, sink: HttpSink, stand_in) -> None:
    root = tmp_path / "root"
    stand_in(root)
    _heartbeat(root, age_s=1)
    logs = root / "logs"
    logs.mkdir(parents=True)
    big = b"x" * (1024 * 1024 + 10)
    (logs / "deploy.log").write_bytes(big)
    (logs / "ai_lab.log").write_bytes(big)  # rotated by the bot's own handler
    (logs / "ledger_auto.jsonl").write_bytes(big)  # data, never rotated

    code, out = await run_shell("monitor_bot.sh", _env(root, sink, LOG_ROTATE_MB="1"))

    assert code == 0, out
    assert (logs / "deploy.log").stat().st_size == 0
    assert gzip.decompress((logs / "deploy.log.1.gz").read_bytes()) == big
    assert (logs / "ai_lab.log").stat().st_size == len(big)
    assert (logs / "ledger_auto.jsonl").stat().st_size == len(big)


async def test_a_recycled_pid_of_another_bot_is_not_ours(tmp_path: Path, sink: HttpSink, stand_in) -> None:
    root = tmp_path / "root"
    other = stand_in(tmp_path / "other-root")  # a bot of another data root, alive and well
    _heartbeat(root, age_s=2)
    (root / "state" / "bot.pid").write_text(f"{other.pid}\n")

    code, out = await run_shell("monitor_bot.sh", _env(root, sink))

    assert code == 1, out  # this root's bot is dead: restarted
    assert "not running" in sink.messages()[0]["text"]
    assert other.proc.poll() is None
