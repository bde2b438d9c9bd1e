"""Go live from a shell: the double gate, with a typed confirmation. Real money follows.

1. The config must allow live trading (live.allow_live_trading: true, mode: live) — checked with
   the bot's own rules (src/control/golive.py); otherwise nothing is sent.
2. The script shows what would go live (mode, approved strategies, equity, first size) and the
   person must type GO LIVE. There is no way to skip this: no --yes, no piped default.
3. Only then it asks the running bot for a one-time code (`golive_request`, carrying the typed
   phrase and the hash of a secret this script keeps in memory) and answers it at once
   (`golive_confirm code=... proof=<the secret>`), through state/inbox/: the bot's one go-live
   gate checks the code, the binding, its expiry and the config again, exactly as for Telegram's
   /golive + /confirm, and records who confirmed. A process that only reads the code from the
   outbox cannot confirm.

Going back to paper is immediate and needs no confirmation: Telegram /paper.

    python scripts/go_live.py --root /srv/ai-trading-lab
"""

from __future__ import annotations

import argparse
import secrets
import sys
from pathlib import Path
from typing import Any, TextIO

if __package__ in (None, ""):
    import _bootstrap  # noqa: F401  (repo root importable when run as a file)

from scripts.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
    ScriptError,
    ask_bot,
    bot_config_path,
    emit,
    load_script_config,
    make_parser,
    read_json,
    require_bot,
    run_script,
)
from src.config import AppConfig
from src.control.golive import TYPED_PHRASE, binding_of, live_blockers

CONFIRM_PHRASE = TYPED_PHRASE


def approved_strategies(root: Path) -> list[dict[str, Any]]:
    """Strategies in strategies/active/ (approved by a person): the only ones that may trade live."""
    out = []
    for path in sorted((root / "strategies" / "active").glob("*.json")):
        body, problem = read_json(path)
        body = body if isinstance(body, dict) else {}
        out.append({"id": body.get("id", path.stem), "name": body.get("name", ""), "status": body.get("status", ""),
                    "symbols": body.get("symbols", body.get("symbol", "")), "problem": problem})
    return out


def preview(root: Path, cfg: AppConfig, status: dict[str, Any]) -> dict[str, Any]:
    """What would go live: everything the person should see before typing the phrase."""
    data = status.get("data", {})
    control = data.get("control", {}) if isinstance(data, dict) else {}
    portfolio = data.get("portfolio", {}) if isinstance(data, dict) else {}
    equity = portfolio.get("equity_quote") if isinstance(portfolio, dict) else None
    return {"mode": cfg.mode, "allow_live_trading": cfg.live.allow_live_trading,
            "initial_size_fraction": cfg.live.initial_size_fraction, "quote": cfg.quote,
            "equity_quote": equity, "bot_says": status.get("message", ""),
            "already_live": bool(control.get("live_confirmed")), "approved": approved_strategies(root)}


def render_preview(p: dict[str, Any]) -> str:
    equity = f"{p['equity_quote']:,.2f} {p['quote']}" if isinstance(p["equity_quote"], (int, float)) else "unknown"
    lines = ["GO LIVE: real orders with real money",
             f"  config mode          {p['mode']}",
             f"  allow_live_trading   {p['allow_live_trading']}",
             f"  bot                  {p['bot_says']}",
             f"  equity               {equity}",
             f"  first size           {p['initial_size_fraction']:.0%} of normal, scaled up only on evidence",
             f"  approved strategies  {len(p['approved'])}"]
    lines += [f"    - {s['id']} {s['name']} {s['symbols']}" for s in p["approved"]]
    if not p["approved"]:
        lines.append("    (none: nothing will trade live until a strategy is approved)")
    return "\n".join(lines)


def read_confirmation(stdin: TextIO, prompt_to: TextIO) -> str:
    """What the person typed (stripped); end of input is the empty string."""
    print(f"Type {CONFIRM_PHRASE} to confirm (anything else aborts): ", end="", file=prompt_to, flush=True)
    return stdin.readline().strip()



def run(args: argparse.Namespace) -> int:
    if args.yes:
        raise ScriptError(EXIT_USAGE, "go_live.py has no --yes: going live always needs the typed confirmation")
    root = args.root.resolve()
    bot = require_bot(root)
    cfg = load_script_config(args.config or bot_config_path(bot))
    blockers = live_blockers(cfg)
    if blockers:
        raise ScriptError(EXIT_REFUSED, "cannot go live: " + "; ".join(blockers) + ". Nothing was sent; change "
                                        "the config and restart the bot first", {"blockers": blockers})
    status = ask_bot(root, "status", {}, args.timeout)
    info = preview(root, cfg, {"message": status.message, "data": status.data})
    if info["already_live"]:
        emit(args.json, "live trading is already confirmed; nothing to do", {"ok": True, **info})
        return EXIT_OK
    print(render_preview(info), file=sys.stderr if args.json else sys.stdout)
    typed = read_confirmation(sys.stdin, sys.stderr if args.json else sys.stdout)
    if typed != CONFIRM_PHRASE:
        raise ScriptError(EXIT_REFUSED, f"not confirmed (you must type {CONFIRM_PHRASE}); nothing changed")
    return _double_gate(root, args, info, typed)


def _double_gate(root: Path, args: argparse.Namespace, info: dict[str, Any], typed: str) -> int:
    """Ask the bot for a one-time code bound to a secret kept here, and answer it: the bot's gate decides."""
    secret = secrets.token_hex(32)  # never written anywhere: only its hash goes into the request
    ticket = ask_bot(root, "golive_request", {"typed": typed, "binding": binding_of(secret)}, args.timeout)
    code = str(ticket.data.get("code", "")) if ticket.ok else ""
    if not code:
        raise ScriptError(EXIT_FAILED, f"the bot did not issue a go-live code: {ticket.message}",
                          {"preview": info})
    answer = ask_bot(root, "golive_confirm", {"code": code, "typed": typed, "proof": secret}, args.timeout)
    payload = {"ok": answer.ok, "message": answer.message, "data": answer.data, "preview": info,
               "bot_would_go_live": ticket.data.get("would_go_live")}
    emit(args.json, ("LIVE: " if answer.ok else "NOT live: ") + answer.message, payload)
    return EXIT_OK if answer.ok else EXIT_FAILED


def main(argv: list[str] | None = None) -> int:
    p = make_parser(__doc__)
    p.add_argument("--config", type=Path, default=None,
                   help="config to check (default: the bot's --config, else config.local.yaml, else config.yaml)")
    p.add_argument("--timeout", type=float, default=15.0, metavar="S", help="wait S seconds for each answer")
    p.add_argument("--yes", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    return run_script(lambda: run(args), lambda: args.json)


if __name__ == "__main__":
    sys.exit(main())
