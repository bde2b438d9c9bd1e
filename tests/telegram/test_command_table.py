"""The command table: usage lines, argument checks, generated help and menu."""

from __future__ import annotations

import pytest

from src.telegram.commands import (
    COMMANDS,
    GROUPS,
    UsageError,
    bot_commands,
    help_text,
    lookup,
    short_help,
    split_command,
)

pytestmark = pytest.mark.smoke  # deploy.sh runs these before every restart

ISSUE_COMMANDS = {"status", "positions", "pnl", "strategies", "strategy", "approve", "reject", "pause", "resume",
                  "golive", "confirm", "paper", "stop", "report", "chart", "analytics", "logs", "help",
                  "balance", "daily", "weekly", "monthly", "performance", "trades", "forceexit", "show_config",
                  "version", "health", "release"}


def test_table_covers_every_command_of_the_issue() -> None:
    assert {c.name for c in COMMANDS} == ISSUE_COMMANDS


def test_help_and_menu_come_from_the_table() -> None:
    admin = help_text("admin")
    assert all(c.usage in admin for c in COMMANDS)
    viewer = help_text("viewer")
    assert "/status" in viewer
    assert "/pause" not in viewer
    assert "/golive" not in viewer
    assert [n for n, _ in bot_commands()] == [c.name for c in COMMANDS]
    assert all(3 <= len(d) <= 256 for _, d in bot_commands())
    assert "/pause" not in short_help("viewer")
    assert "/pause" in short_help("admin")


def test_help_is_grouped_by_purpose() -> None:
    admin = help_text("admin").split("\n\n")
    groups = {block.splitlines()[0]: block for block in admin[1:]}
    assert list(groups) == [f"{g}:" for g in GROUPS]
    assert "/balance" in groups["Money:"]
    assert "/forceexit <ID>" in groups["Trading control:"]
    assert "/approve <ID>" in groups["Strategies:"]
    assert "/version" in groups["Bot:"]
    assert "Trading control:\n/pause" not in help_text("viewer")


@pytest.mark.parametrize(("text", "expected"), [
    ("/pnl", {}), ("/pnl week", {"period": "week"}),
    ("/reject S1 too many losses in chop", {"ID": "S1", "reason": "too many losses in chop"}),
    ("/chart strategy S-1.a", {"kind": "strategy", "ID": "S-1.a"}), ("/confirm 012345", {"CODE": "012345"}),
    ("/stop flatten", {"flatten": "flatten"}), ("/logs 30", {"N": "30"}), ("/analytics manual", {"ledger": "manual"}),
    ("/forceexit all", {"ID": "all"}), ("/trades 25", {"N": "25"}), ("/show_config risk", {"section": "risk"}),
])
def test_valid_arguments_parse(text: str, expected: dict[str, str]) -> None:
    name, words = split_command(text)
    spec = lookup(name)
    assert spec is not None
    assert spec.parse(words) == expected


@pytest.mark.parametrize(("text", "problem"), [
    ("/pnl yesterday", "period must be one of"), ("/strategy", "missing ID"), ("/reject S1", "missing reason"),
    ("/confirm 12ab56", "not a valid CODE"), ("/analytics", "missing ledger"), ("/logs many", "not a valid N"),
    ("/pause now please", "too many arguments"), ("/strategy ../etc", "not a valid ID"),
])
def test_malformed_arguments_give_the_usage_line(text: str, problem: str) -> None:
    name, words = split_command(text)
    spec = lookup(name)
    assert spec is not None
    with pytest.raises(UsageError) as err:
        spec.parse(words)
    assert str(err.value).startswith(f"usage: {spec.usage}")
    assert problem in str(err.value)


def test_split_command_handles_bot_suffix_and_case() -> None:
    assert split_command("/PnL@fake_bot week") == ("pnl", ["week"])
    assert lookup("start") is lookup("help")
    assert lookup("nope") is None


def test_readme_lists_every_command_and_chart() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    for c in COMMANDS:
        assert f"`{c.usage.replace('|', chr(92) + '|')}`" in readme, c.name
    for kind in ("**equity**", "**drawdown**", "**daily**", "**strategy ID**"):
        assert kind in readme
