"""Approve a strategy for live trading, or reject it with a reason, through the running bot.

The bot is the single writer of strategies/: this script sends the `approve` (or `reject`) command
through state/inbox/ and prints the bot's answer. When the bot is down nothing is written and
the script says so (exit 3): approvals made behind the bot's back could be lost or duplicated.

    python scripts/approve_strategy.py mom-btc-1h-3f2a
    python scripts/approve_strategy.py mom-btc-1h-3f2a --reject "drawdown too deep in 2022"
"""

from __future__ import annotations

import re
import sys
from typing import Any

if __package__ in (None, ""):
    import _bootstrap  # noqa: F401  (repo root importable when run as a file)

from scripts.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    ScriptError,
    ask_bot,
    emit,
    make_parser,
    result_payload,
    run_script,
)

STRATEGY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,80}$")  # the same rule as StrategySpec.id


def run(args: Any) -> int:
    if not STRATEGY_ID.match(args.strategy_id):
        raise ScriptError(EXIT_USAGE, f"'{args.strategy_id}' is not a strategy id (1-80 letters, digits, . _ -)")
    if args.reject is not None and not args.reject.strip():
        raise ScriptError(EXIT_USAGE, "--reject needs a reason (it is recorded in the strategy's history)")
    name = "reject" if args.reject is not None else "approve"
    cmd_args = {"id": args.strategy_id}
    if args.reject is not None:
        cmd_args["reason"] = args.reject.strip()
    result = ask_bot(args.root.resolve(), name, cmd_args, args.timeout)
    payload = result_payload(result)
    verb = "rejected" if name == "reject" else "approved"
    text = (f"{args.strategy_id}: {verb}. {result.message}" if result.ok
            else f"{args.strategy_id}: NOT {verb}: {result.message}")
    emit(args.json, text, payload)
    return EXIT_OK if result.ok else EXIT_FAILED


def main(argv: list[str] | None = None) -> int:
    p = make_parser(__doc__)
    p.add_argument("strategy_id", metavar="ID", help="the strategy id (file name in strategies/ without .json)")
    p.add_argument("--reject", metavar="REASON", help="reject instead of approve, with this reason")
    p.add_argument("--timeout", type=float, default=15.0, metavar="S", help="wait S seconds for the bot (default 15)")
    args = p.parse_args(argv)
    return run_script(lambda: run(args), lambda: args.json)


if __name__ == "__main__":
    sys.exit(main())
