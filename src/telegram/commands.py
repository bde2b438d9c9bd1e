"""The command table: one row per Telegram command, from which /help, setMyCommands and argument checks come.

A command is ``viewer`` (read-only, viewers and admins) or ``admin`` (changes something). The
argument grammar is declared per row, so a malformed command is answered with its usage line
before any handler runs, and the help a person reads can never drift from what the bot accepts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from src.core.errors import LabError

Role = Literal["admin", "viewer"]
Group = Literal["Status", "Money", "Strategies", "Charts", "Trading control", "Bot"]
GROUPS: tuple[Group, ...] = ("Status", "Money", "Strategies", "Charts", "Trading control", "Bot")

STRATEGY_ID = r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,79}"


class UsageError(LabError, ValueError):
    """Arguments that do not fit the command; the message is the usage line plus what was wrong."""


@dataclass(frozen=True)
class Arg:
    """One positional argument; ``rest`` swallows the remainder of the line (free text)."""

    name: str
    required: bool = True
    choices: tuple[str, ...] = ()
    pattern: str | None = None
    rest: bool = False

    def usage(self) -> str:
        body = "|".join(self.choices) if self.choices else self.name
        return f"<{body}>" if self.required else f"[{body}]"

    def check(self, value: str) -> str | None:
        """Why ``value`` is not acceptable, or None."""
        if self.choices and value not in self.choices:
            return f"{self.name} must be one of {', '.join(self.choices)}"
        if self.pattern and not re.fullmatch(self.pattern, value):
            return f"'{value[:40]}' is not a valid {self.name}"
        return None


@dataclass(frozen=True)
class CommandSpec:
    """A row of the table."""

    name: str
    role: Role
    help: str
    args: tuple[Arg, ...] = ()
    group: Group = "Bot"

    @property
    def usage(self) -> str:
        return " ".join([f"/{self.name}", *(a.usage() for a in self.args)])

    def parse(self, words: list[str]) -> dict[str, str]:
        """Map words onto the declared arguments or raise :class:`UsageError` carrying the usage line."""
        out: dict[str, str] = {}
        for i, arg in enumerate(self.args):
            if i >= len(words):
                if arg.required:
                    raise UsageError(f"usage: {self.usage} (missing {arg.name})")
                break
            value = " ".join(words[i:]) if arg.rest else words[i]
            problem = arg.check(value)
            if problem:
                raise UsageError(f"usage: {self.usage} ({problem})")
            out[arg.name] = value
        if len(words) > len(self.args) and not (self.args and self.args[-1].rest):
            raise UsageError(f"usage: {self.usage} (too many arguments)")
        return out


_ID = Arg("ID", pattern=STRATEGY_ID)
_N = Arg("N", False, pattern=r"\d{1,3}")

COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("status", "viewer", "mode, uptime, equity, positions, strategies, data quality, guards",
                group="Status"),
    CommandSpec("health", "viewer", "is every task running; halts, kill switch, delivery problems", group="Status"),
    CommandSpec("positions", "viewer", "open positions with entry, size and unrealized P&L", group="Status"),
    CommandSpec("report", "viewer", "the daily report: equity, the day's P&L, strategies by status",
                group="Status"),
    CommandSpec("balance", "viewer", "equity, free cash, money in positions, return since the start",
                group="Money"),
    CommandSpec("pnl", "viewer", "gross, fees, funding and net P&L", (Arg("period", False, ("today", "week", "all")),),
                group="Money"),
    CommandSpec("daily", "viewer", "net P&L per day, last 7 days (closed trades)", group="Money"),
    CommandSpec("weekly", "viewer", "net P&L per week, last 4 weeks", group="Money"),
    CommandSpec("monthly", "viewer", "net P&L per month, last 6 months", group="Money"),
    CommandSpec("performance", "viewer", "net P&L, trades and win rate per strategy and per symbol",
                group="Money"),
    CommandSpec("trades", "viewer", "the last N closed trades (default 10)", (_N,), group="Money"),
    CommandSpec("analytics", "viewer", "trade analytics; automatic and manual trades never mixed",
                (Arg("ledger", True, ("auto", "manual")),), group="Money"),
    CommandSpec("strategies", "viewer", "strategies, optionally only one status",
                (Arg("status", False, pattern=r"[a-z_]{2,30}"),), group="Strategies"),
    CommandSpec("strategy", "viewer", "one strategy in detail", (_ID,), group="Strategies"),
    CommandSpec("approve", "admin", "approve a strategy waiting for approval", (_ID,), group="Strategies"),
    CommandSpec("reject", "admin", "reject a strategy, with the reason", (_ID, Arg("reason", rest=True)),
                group="Strategies"),
    CommandSpec("chart", "viewer", "a picture: equity (with trades and benchmarks), drawdown, daily P&L, "
                "or one strategy's equity",
                (Arg("kind", False, ("equity", "drawdown", "daily", "strategy")),
                 Arg("ID", False, pattern=STRATEGY_ID)),
                group="Charts"),
    CommandSpec("pause", "admin", "stop opening new positions (exits still run)", group="Trading control"),
    CommandSpec("resume", "admin", "lift a person's pause (a guard's hold needs /release)", group="Trading control"),
    CommandSpec("release", "admin", "lift a guard's hold by name; live stays off until confirmed again",
                (Arg("hold", True, ("kill_switch", "emergency_stop", "safety_file", "account")),),
                group="Trading control"),
    CommandSpec("forceexit", "admin", "close one strategy's position, or all (asks for a code)",
                (Arg("ID", pattern=STRATEGY_ID),), group="Trading control"),
    CommandSpec("golive", "admin", "go live with real money: answers with a one-time code", group="Trading control"),
    CommandSpec("confirm", "admin", "confirm a pending /golive, /stop, /forceexit or live approval",
                (Arg("CODE", pattern=r"\d{6}"),), group="Trading control"),
    CommandSpec("paper", "admin", "drop back to paper trading at once", group="Trading control"),
    CommandSpec("stop", "admin", "shut the bot down (asks for a code); flatten closes positions first",
                (Arg("flatten", False, ("flatten",)),), group="Trading control"),
    CommandSpec("show_config", "admin", "the running configuration, secrets redacted",
                (Arg("section", False, pattern=r"[a-z_]{2,30}"),), group="Bot"),
    CommandSpec("version", "viewer", "version, commit, Python and client library versions", group="Bot"),
    CommandSpec("logs", "admin", "the last N log lines", (_N,), group="Bot"),
    CommandSpec("help", "viewer", "this list", group="Bot"),
)

BY_NAME: dict[str, CommandSpec] = {c.name: c for c in COMMANDS}
ALIASES: dict[str, str] = {"start": "help"}


def lookup(name: str) -> CommandSpec | None:
    """The row for ``name`` (aliases resolved), or None for an unknown command."""
    return BY_NAME.get(ALIASES.get(name, name))


def allowed(spec: CommandSpec, role: Role) -> bool:
    return role == "admin" or spec.role == "viewer"


def help_text(role: Role) -> str:
    """The /help answer for ``role``, grouped by purpose: usage line and one sentence per command."""
    lines = [f"Commands ({role}):"]
    for group in GROUPS:
        rows = [f"{c.usage} — {c.help}" for c in COMMANDS if c.group == group and allowed(c, role)]
        if rows:
            lines += ["", f"{group}:", *rows]
    return "\n".join(lines)


def short_help(role: Role) -> str:
    """What an unknown command gets: the names only."""
    names = " ".join(f"/{c.name}" for c in COMMANDS if allowed(c, role))
    return f"unknown command. Try: {names}"


def bot_commands(role: Role = "admin") -> list[tuple[str, str]]:
    """``(command, description)`` pairs for Telegram's setMyCommands (the menu in the app) for ``role``."""
    return [(c.name, c.help[:256]) for c in COMMANDS if allowed(c, role)]


def split_command(text: str) -> tuple[str, list[str]]:
    """``"/pnl@my_bot week"`` → ``("pnl", ["week"])``; the name is lower-cased."""
    words = text.strip().split()
    head = words[0].lstrip("/").split("@", 1)[0].lower() if words else ""
    return head, words[1:]
