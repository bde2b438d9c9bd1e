"""Start-up: parse arguments, validate config, build the components, hand them to the supervisor.

Start-up is recovery: everything is rebuilt from the files under ``--root`` (state, strategies,
ledgers) before anything trades, so a clean start and a start after ``kill -9`` are one path.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

from src.app.supervisor import Supervisor
from src.app.wiring import assemble
from src.config import AppConfig, ConfigError, Secrets, load_config, load_secrets
from src.core.bus import EventBus
from src.core.clock import Clock, MarketClock, ScaledClock
from src.market.replay_binding import replay_root_problem
from src.runtime.context import AppContext, Paths
from src.state.store import StateStore, sweep_temp_files

log = logging.getLogger("ai_lab")
REPO_ROOT = Path(__file__).resolve().parents[2]

EXIT_OK, EXIT_ERROR, EXIT_CONFIG, EXIT_HELD = 0, 1, 2, 3
HOLD_FILE = "STOPPED"  # <root>/STOPPED: an operator stopped the bot on purpose; every way of starting honours it


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="ai_trading_lab.py", description="AI Trading Lab: one supervised process.")
    p.add_argument("--config", type=Path, default=REPO_ROOT / "config.yaml", help="config file (YAML)")
    p.add_argument("--mode", choices=["replay", "paper", "testnet", "live"], help="override config mode")
    p.add_argument("--data", action="append", default=None,
                   help="replay candles from FILE (repeatable; SYMBOL=FILE when the name does not tell)")
    p.add_argument("--speed", type=float, help="simulated seconds per wall second in replay")
    p.add_argument("--duration", type=float, help="run this many seconds, then shut down cleanly")
    p.add_argument("--root", type=Path, default=REPO_ROOT, help="folder holding strategies/, state/, logs/")
    p.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="console log level")
    p.add_argument("--quiet", action="store_true", help="console: warnings and errors only (the log file keeps INFO)")
    p.add_argument("--ignore-hold", action="store_true", help=f"start even though ROOT/{HOLD_FILE} exists")
    p.add_argument("--reset", action="store_true", help="replay: move state/ and ledgers aside (keeps strategies)")
    return p.parse_args(argv)


def config_overrides(args: argparse.Namespace) -> dict[str, object]:
    out: dict[str, object] = {}
    if args.mode:
        out["mode"] = args.mode
    if args.data:
        out["replay.data"] = list(args.data)
    if args.speed is not None:
        out["replay.speed"] = args.speed
    if args.log_level:
        out["logging.level"] = args.log_level
    if args.quiet:
        out["logging.level"] = "WARNING"
    return out


def build_context(cfg: AppConfig, secrets: Secrets, root: Path, clock: Clock) -> AppContext:
    """Rebuild the runtime from the files under ``root`` (temp files of a killed writer are swept)."""
    paths = Paths(root.resolve())
    paths.ensure()
    sweep_temp_files(paths.state)
    sweep_temp_files(paths.strategies)
    return AppContext(config=cfg, secrets=secrets, paths=paths, bus=EventBus(), store=StateStore(paths.state),
                      clock=clock)


def market_clock(cfg: AppConfig) -> Clock:
    """The feed's clock in replay; the wall elsewhere, accelerated only where the config allows it (testnet)."""
    if cfg.mode == "replay":
        return MarketClock()
    ex = cfg.exchange
    if ex.testnet_clock_speed != 1.0 and ex.testnet_clock_anchor_ms is not None:
        return ScaledClock(ex.testnet_clock_speed, ex.testnet_clock_anchor_ms)
    return Clock()


async def run_bot(cfg: AppConfig, secrets: Secrets, root: Path, duration_s: float | None) -> int:
    clock = market_clock(cfg)
    ctx = build_context(cfg, secrets, root, clock)
    supervisor = Supervisor(ctx)
    assemble(ctx, supervisor)  # the composition root: src/app/wiring.py
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, supervisor.request_stop)
    log.info("AI Trading Lab starting: mode=%s root=%s pid-file=%s", cfg.mode, ctx.paths.root,
             ctx.paths.state / "bot.pid")
    await supervisor.run(duration_s)
    return EXIT_OK


def hold_reason(root: Path) -> str | None:
    """Who stopped the bot and why, from the hold file; None when there is no hold."""
    path = root / HOLD_FILE
    if not path.exists():
        return None
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "an operator stopped the bot on purpose"
    if not isinstance(body, dict):
        return "an operator stopped the bot on purpose"
    return f"stopped by {body.get('stopped_by', '?')}: {body.get('reason') or 'no reason given'}"


def main(argv: list[str] | None = None) -> int:
    from src.app.logging_setup import setup_logging

    args = parse_args(argv)
    held = hold_reason(args.root)
    if held is not None and not args.ignore_hold:
        print(f"not starting: {args.root / HOLD_FILE} exists ({held}); remove it to start, or pass --ignore-hold",
              file=sys.stderr)
        return EXIT_HELD
    try:
        cfg = load_config(args.config, config_overrides(args))
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_CONFIG
    try:
        secrets = load_secrets(dotenv=REPO_ROOT / ".env")
    except ValueError as exc:
        print(f"environment: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if cfg.mode == "replay" and (problem := replay_root_problem(args.root, cfg, args.reset)):
        print(problem, file=sys.stderr)
        return EXIT_CONFIG
    lc = cfg.logging
    setup_logging(args.root / "logs", lc.level, lc.file, lc.max_bytes, lc.backups, secrets.values())
    try:
        return asyncio.run(run_bot(cfg, secrets, args.root, args.duration))
    except (ValueError, FileNotFoundError) as exc:
        log.error("cannot start: %s", exc)
        return EXIT_CONFIG
