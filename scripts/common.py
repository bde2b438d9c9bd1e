"""Shared bits of the management scripts: options, exit codes, finding the bot, talking to its inbox.

The bot is the single writer of ``state/`` and ``strategies/``. Scripts only *read* those files
(leniently: a script never quarantines or repairs anything) and ask the running bot to act by
dropping a command into ``state/inbox/`` and waiting for its answer in ``state/outbox/``. A
command the bot did not pick up in time is withdrawn, so a hung bot that is later restarted does
not execute a stale "stop" or "approve" long after the person gave up on it.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from src.config import AppConfig, ConfigError, load_config
from src.core.errors import LabError
from src.orders.ledger import AUTO_FILE, MANUAL_FILE, LedgerEntry
from src.state.inbox import CommandResult, drop_command, read_result

REPO_ROOT = Path(__file__).resolve().parents[1]
PROCESS_MARKER = "ai_trading_lab"  # must appear in /proc/<pid>/cmdline of the bot
LOCAL_CONFIG = "config.local.yaml"  # the VPS's own settings (deploy/install.sh), untouched by git pulls
HOLD_FILE = "STOPPED"  # <root>/STOPPED: an operator stopped the bot; systemd and the monitor leave it down

EXIT_OK = 0  # done / bot running and healthy
EXIT_FAILED = 1  # the bot answered and refused, or an operation failed
EXIT_USAGE = 2  # bad arguments (argparse)
EXIT_BOT_DOWN = 3  # the bot is not running (nothing was sent)
EXIT_NO_ANSWER = 4  # the bot did not answer in time (command withdrawn)
EXIT_REFUSED = 5  # refused for safety: live not allowed, confirmation not typed, nothing confirmed
EXIT_UNHEALTHY = 6  # the process exists but is hung: heartbeat stale or process stopped

EXIT_CODES_HELP = """exit codes:
  0  done (get_status: running and healthy)
  1  the bot refused the command, or an operation failed
  2  bad arguments
  3  the bot is not running (nothing was sent)
  4  the bot did not answer in time (the command was withdrawn)
  5  refused for safety (live not allowed by config, confirmation not typed)
  6  the process exists but looks hung (stale heartbeat or stopped process)"""


class ScriptError(LabError):
    """Ends a script with ``exit_code`` after printing ``message`` (and ``data`` with --json)."""

    def __init__(self, exit_code: int, message: str, data: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.exit_code, self.message, self.data = exit_code, message, data or {}


# ----------------------------------------------------------------- CLI
def make_parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser with the options every script shares: --root and --json."""
    text = (doc or "").strip()
    p = argparse.ArgumentParser(description=text, epilog=EXIT_CODES_HELP,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", type=Path, default=REPO_ROOT,
                   help="the bot's data root holding state/, strategies/, logs/ (default: the repo)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    return p


def emit(as_json: bool, text: str, payload: dict[str, Any]) -> None:
    """Print the human text, or the payload as one JSON object."""
    if as_json:
        print(json.dumps(payload, indent=2, default=str))
    else:
        print(text)


def run_script(body: Callable[[], int], as_json: Callable[[], bool]) -> int:
    """Run ``body``; a :class:`ScriptError` becomes its message (text or JSON) and its exit code."""
    try:
        return body()
    except ScriptError as err:
        if as_json():
            print(json.dumps({"ok": False, "error": err.message, "exit_code": err.exit_code, **err.data},
                             indent=2, default=str))
        else:
            print(err.message, file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_REFUSED
    except BrokenPipeError:  # output piped into `head`: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


# ----------------------------------------------------------------- files
def read_json(path: Path) -> tuple[Any, str | None]:
    """``(content, None)``, ``(None, None)`` if missing, ``(None, problem)`` if unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError) as exc:
        return None, f"{path.name} unreadable: {exc}"


def read_pid_file(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


# ----------------------------------------------------------------- process
@dataclass(frozen=True)
class BotProcess:
    """The bot's process as seen from /proc: ``state`` is the kernel's letter (R, S, T, Z, ...)."""

    pid: int
    state: str
    argv: tuple[str, ...]
    cwd: str

    @property
    def cmdline(self) -> str:
        return " ".join(self.argv)

    @property
    def stopped(self) -> bool:
        """SIGSTOPped or traced: it cannot read its inbox or handle SIGTERM until continued."""
        return self.state in ("T", "t")

    def option(self, name: str) -> str | None:
        """The value of ``--name VALUE`` / ``--name=VALUE`` on its command line."""
        for i, arg in enumerate(self.argv):
            if arg == name and i + 1 < len(self.argv):
                return self.argv[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
        return None

    def path_option(self, name: str) -> Path | None:
        """An option's value as an absolute path (relative ones are relative to the bot's cwd)."""
        value = self.option(name)
        if value is None or not (Path(value).is_absolute() or self.cwd):
            return None  # a relative path with an unreadable cwd (another user's process): unknown
        return (Path(self.cwd or "/") / value).resolve()

    def data_root(self) -> Path | None:
        """Its --root, or the folder of its ai_trading_lab.py (the bot's default root)."""
        root = self.path_option("--root")
        if root is not None:
            return root
        script = next((a for a in self.argv if a.endswith(PROCESS_MARKER + ".py")), None)
        if script is None or not (Path(script).is_absolute() or self.cwd):
            return None
        return (Path(self.cwd or "/") / script).resolve().parent

    def as_dict(self) -> dict[str, Any]:
        return {"pid": self.pid, "state": self.state, "cmdline": self.cmdline, "stopped": self.stopped}


def probe_pid(pid: int, root: Path | None = None) -> BotProcess | None:
    """The process ``pid`` if it exists, is not a zombie, is an AI Trading Lab bot and (given
    ``root``) runs on that data root — a recycled pid of another bot is never mistaken for ours."""
    proc = Path("/proc") / str(pid)
    try:
        argv = tuple(a.decode(errors="replace") for a in (proc / "cmdline").read_bytes().split(b"\0") if a)
        stat = (proc / "stat").read_text(encoding="utf-8")
    except OSError:
        return None
    try:
        cwd = os.readlink(proc / "cwd")
    except OSError:  # another user's process: its root is then only known from an absolute --root
        cwd = ""
    state = stat.rsplit(")", 1)[-1].split()[0] if ")" in stat else "?"
    if state in ("Z", "X") or not any(PROCESS_MARKER in a for a in argv):
        return None
    bot = BotProcess(pid, state, argv, cwd)
    if root is not None:
        bot_root = bot.data_root()
        if bot_root is not None and bot_root != root.resolve():
            return None
    return bot


def find_bot(root: Path) -> BotProcess | None:
    """The running bot of ``root``: the pid file, the pid the last heartbeat names, else a scan of
    /proc for a bot started with this root (one still warming up has written no pid file yet)."""
    state = root / "state"
    candidates = [read_pid_file(state / "bot.pid")]
    hb, _ = read_json(state / "heartbeat.json")
    if isinstance(hb, dict) and isinstance(hb.get("pid"), int):
        candidates.append(hb["pid"])
    for pid in candidates:
        if pid and pid != os.getpid():
            found = probe_pid(pid, root)
            if found is not None:
                return found
    return _scan_for_bot(root.resolve())


def _scan_for_bot(root: Path) -> BotProcess | None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            found = probe_pid(int(entry.name))
            if found is not None and found.data_root() == root:
                return found
    return None



def require_bot(root: Path) -> BotProcess:
    """The running bot, or a :data:`EXIT_BOT_DOWN` error that says nothing was sent."""
    bot = find_bot(root)
    if bot is None:
        raise ScriptError(EXIT_BOT_DOWN, f"the bot is not running (root {root}); nothing was sent. "
                                         "Start it first (systemctl start ai-trading-lab, or python ai_trading_lab.py)")
    if bot.stopped:
        raise ScriptError(EXIT_UNHEALTHY, f"the bot (pid {bot.pid}) is stopped (SIGSTOP) and cannot read "
                                          "commands; nothing was sent. Continue it (kill -CONT) or use stop_trading.py")
    return bot


# ----------------------------------------------------------------- inbox
def inbox_problem(root: Path) -> str | None:
    """Why this user cannot talk to the bot's inbox, or None.

    Command files are written 0600: one dropped by another user (root, say) is unreadable to the
    bot, so scripts must run as the bot's own user.
    """
    state = root / "state"
    try:
        owner = state.stat().st_uid
    except FileNotFoundError:
        return f"{state} does not exist"
    if owner != os.geteuid():
        try:
            name = pwd.getpwuid(owner).pw_name
        except KeyError:
            name = str(owner)
        return f"run this as the bot's user '{name}' (e.g. sudo -u {name} ...): its inbox is not ours to write"
    return None


def send_command(root: Path, name: str, args: dict[str, str] | None = None, timeout_s: float = 15.0,
                 actor: str | None = None, poll_s: float = 0.1) -> CommandResult | None:
    """Drop ``name`` into the inbox and wait for the bot's result; withdraw it if none comes in time.

    Returns None when the bot did not answer (the command file is removed unless the bot already
    took it, in which case a late answer is still collected once).
    """
    state = root / "state"
    problem = inbox_problem(root)
    if problem:
        raise ScriptError(EXIT_FAILED, problem)
    who = actor or f"{os.environ.get('USER', 'shell')}@pid{os.getpid()}"
    cmd_id = drop_command(state / "inbox", name, args or {}, actor=who[:80])
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = read_result(state / "outbox", cmd_id)
        if result is not None:
            return _collect(state, cmd_id, result)
        time.sleep(poll_s)
    (state / "inbox" / f"{cmd_id}.json").unlink(missing_ok=True)
    late = read_result(state / "outbox", cmd_id)
    return _collect(state, cmd_id, late) if late is not None else None


def _collect(state: Path, cmd_id: str, result: CommandResult) -> CommandResult:
    """Remove the answer once read, but only after the bot has removed the command itself.

    While the command file exists the answer is the bot's proof that the command already ran.
    """
    for _ in range(20):
        if not (state / "inbox" / f"{cmd_id}.json").exists():
            (state / "outbox" / f"{cmd_id}.json").unlink(missing_ok=True)
            break
        time.sleep(0.05)
    return result


def ask_bot(root: Path, name: str, args: dict[str, str] | None, timeout_s: float) -> CommandResult:
    """:func:`send_command` for a running bot, with the usual errors when it is down or silent."""
    require_bot(root)
    result = send_command(root, name, args, timeout_s)
    if result is None:
        raise ScriptError(EXIT_NO_ANSWER, f"the bot did not answer '{name}' within {timeout_s:.0f}s; "
                                          "the command was withdrawn. Check get_status.py")
    return result


def result_payload(result: CommandResult) -> dict[str, Any]:
    return {"ok": result.ok, "command": result.name, "message": result.message, "data": result.data}


# ----------------------------------------------------------------- config
def bot_config_path(bot: BotProcess | None) -> Path:
    """The config the bot runs with: its --config, else config.local.yaml, else config.yaml."""
    found = bot.path_option("--config") if bot is not None else None
    if found is not None:
        return found
    local = REPO_ROOT / LOCAL_CONFIG
    return local if local.exists() else REPO_ROOT / "config.yaml"


def load_script_config(path: Path) -> AppConfig:
    """The validated config at ``path``; a missing or invalid file is an error, never silent defaults."""
    if not path.is_file():
        raise ScriptError(EXIT_FAILED, f"config file {path} not found (pass --config)")
    try:
        return load_config(path)
    except ConfigError as exc:
        raise ScriptError(EXIT_FAILED, f"cannot use {path}: {exc}") from None


# ----------------------------------------------------------------- ledger (read-only)
QTY_EPS = 1e-12


def ledger_fills(logs: Path) -> tuple[list[LedgerEntry], int]:
    """Fill lines of both ledgers in ``seq`` order, and how many lines could not be read.

    Read-only on purpose: unlike the bot's Ledger it never cuts a torn last line; it skips it.
    """
    fills: list[LedgerEntry] = []
    bad = 0
    for name in (AUTO_FILE, MANUAL_FILE):
        try:
            raw_lines = (logs / name).read_bytes().splitlines(keepends=True)
        except FileNotFoundError:
            continue
        for raw in raw_lines:
            try:
                entry = LedgerEntry.model_validate_json(raw)
            except ValueError:
                bad += 1
                continue
            if entry.kind == "fill" and entry.side is not None and raw.endswith(b"\n"):
                fills.append(entry)
    return sorted(fills, key=lambda e: e.seq), bad


def net_positions(fills: list[LedgerEntry], venues: tuple[str, ...]) -> dict[tuple[str, str], float]:
    """Signed open quantity (long > 0) per ``(symbol, market)`` from the fills of ``venues``."""
    net: dict[tuple[str, str], float] = {}
    for e in fills:
        if e.venue in venues:
            key = (e.symbol, e.market)
            net[key] = net.get(key, 0.0) + (e.qty_base if e.side == "buy" else -e.qty_base)
    return {k: q for k, q in net.items() if abs(q) > QTY_EPS}
