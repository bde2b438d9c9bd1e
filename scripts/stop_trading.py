"""Stop the bot: graceful stop through the inbox, then SIGTERM, then SIGKILL, each with a timeout.

Works when the bot is hung: a bot that ignores its inbox gets SIGTERM, one that ignores SIGTERM
(a stuck event loop, a stopped process) gets SIGKILL. Before anything else it writes <root>/STOPPED
(the hold file) so neither systemd (Restart=always) nor monitor_bot.sh starts the bot again behind
the operator's back; remove the file to allow starts again (or pass --no-hold for a plain restart).

--flatten then closes the exchange positions the bot's ledger shows open (live and testnet modes)
itself, with the keys from the environment, even when the bot was hung: the process is gone
first, so nothing trades against the flatten. In replay and paper modes there is nothing on an
exchange to close.

    python scripts/stop_trading.py
    python scripts/stop_trading.py --flatten --reason "exchange incident"
"""

from __future__ import annotations

import os
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    import _bootstrap  # noqa: F401  (repo root importable when run as a file)

from scripts.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    HOLD_FILE,
    BotProcess,
    ScriptError,
    bot_config_path,
    emit,
    find_bot,
    inbox_problem,
    make_parser,
    probe_pid,
    run_script,
    send_command,
)
from src.state.store import atomic_write_json


def wait_gone(pid: int, timeout_s: float, poll_s: float = 0.1) -> bool:
    """True once ``pid`` is no longer a live bot process (gone or a zombie) within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if probe_pid(pid) is None:
            return True
        time.sleep(poll_s)
    return probe_pid(pid) is None


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        raise ScriptError(EXIT_FAILED, f"not allowed to signal pid {pid}: run this as the bot's user "
                                       "(e.g. sudo -u <bot user> ...)") from None


def stop_process(root: Path, bot: BotProcess, graceful_s: float, term_s: float, kill_s: float) -> tuple[str, list[str]]:
    """Escalate inbox → SIGTERM → SIGKILL; returns how it stopped and what happened, step by step."""
    steps: list[str] = []
    problem = inbox_problem(root)
    if bot.stopped:
        steps.append(f"pid {bot.pid} is stopped (SIGSTOP): it cannot read its inbox, skipping the graceful stop")
    elif problem:
        steps.append(f"inbox stop skipped ({problem}); SIGTERM still stops the bot cleanly")
    else:
        started = time.monotonic()
        answer = send_command(root, "stop", {}, graceful_s)
        steps.append(f"inbox stop: {answer.message}" if answer else f"inbox stop: no answer within {graceful_s:.0f}s")
        left = max(0.5, graceful_s - (time.monotonic() - started))
        if answer is not None and wait_gone(bot.pid, left):
            return "inbox", steps
    _signal(bot.pid, signal.SIGTERM)
    steps.append(f"sent SIGTERM to {bot.pid}")
    if wait_gone(bot.pid, term_s):
        return "sigterm", steps
    _signal(bot.pid, signal.SIGKILL)
    steps.append(f"still alive after {term_s:.0f}s: sent SIGKILL to {bot.pid}")
    if wait_gone(bot.pid, kill_s):
        return "sigkill", steps
    raise ScriptError(EXIT_FAILED, f"pid {bot.pid} survived SIGKILL for {kill_s:.0f}s (uninterruptible I/O?)",
                      {"steps": steps})


def write_hold(root: Path, reason: str, pid: int | None) -> Path:
    """Write <root>/STOPPED: who stopped the bot, when and why (read by systemd, monitor, deploy)."""
    path = root / HOLD_FILE
    atomic_write_json(path, {"stopped_by": os.environ.get("USER", "shell"), "reason": reason, "pid": pid,
                             "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                             "how_to_start_again": f"remove {HOLD_FILE}, then start the service"})
    return path


def run(args: Any) -> int:
    root: Path = args.root.resolve()
    for name in ("graceful_timeout", "term_timeout", "kill_timeout"):
        if getattr(args, name) <= 0:
            raise ScriptError(EXIT_USAGE, f"--{name.replace('_', '-')} must be positive")
    bot = find_bot(root)
    config_path = args.config or bot_config_path(bot)  # read before the process (and its cmdline) is gone
    hold = None if args.no_hold else write_hold(root, args.reason, bot.pid if bot else None)
    payload: dict[str, Any] = {"ok": True, "root": str(root), "pid": bot.pid if bot else None,
                               "hold_file": str(hold) if hold else None}
    if bot is None:
        payload.update(how="not-running", steps=["the bot was not running"])
    else:
        how, steps = stop_process(root, bot, args.graceful_timeout, args.term_timeout, args.kill_timeout)
        payload.update(how=how, steps=steps)
    code = EXIT_OK
    if args.flatten:
        from scripts.flatten import flatten_positions

        report = flatten_positions(root, config_path)
        payload["flatten"] = report
        if not report["ok"]:
            payload["ok"], code = False, EXIT_FAILED
    emit(args.json, _render(payload), payload)
    return code


def _render(payload: dict[str, Any]) -> str:
    lines = list(payload["steps"])
    lines.append("bot stopped" if payload["how"] != "not-running" else "nothing to stop")
    if payload["hold_file"]:
        lines.append(f"hold file written: {payload['hold_file']} (remove it to let the bot start again)")
    flat = payload.get("flatten")
    if flat is not None:
        lines.append(f"flatten: {flat['message']}")
        lines += [f"  {o['symbol']} {o['side']} {o['qty_base']}: {o['result']}" for o in flat.get("orders", [])]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = make_parser(__doc__)
    p.add_argument("--graceful-timeout", type=float, default=30.0, metavar="S",
                   help="wait S seconds for the inbox stop before SIGTERM (default 30)")
    p.add_argument("--term-timeout", type=float, default=15.0, metavar="S",
                   help="wait S seconds after SIGTERM before SIGKILL (default 15)")
    p.add_argument("--kill-timeout", type=float, default=5.0, metavar="S", help="wait S seconds after SIGKILL")
    p.add_argument("--flatten", action="store_true",
                   help="after the stop, close open positions through the exchange (live/testnet)")
    p.add_argument("--config", type=Path, default=None,
                   help="config for --flatten (default: the bot's --config, else config.local.yaml, else config.yaml)")
    p.add_argument("--reason", default="stopped with stop_trading.py", help="recorded in the hold file")
    p.add_argument("--no-hold", action="store_true",
                   help="do not write the hold file: systemd or the monitor may start the bot again")
    args = p.parse_args(argv)
    return run_script(lambda: run(args), lambda: args.json)


if __name__ == "__main__":
    sys.exit(main())
