"""Backtest and judge one strategy from the shell; prints the same figures the bot stores.

    python -m scripts.backtest --data candles.csv.gz --family momentum --param fast=10 \
        --param slow=50 --param ma=sma
    python scripts/backtest.py --data candles.csv.gz --strategy strategies/testing/x.json --json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repo root importable
    _ROOT = str(Path(__file__).resolve().parents[1])
    if _ROOT not in sys.path:
        sys.path.insert(0, _ROOT)

from pydantic import ValidationError  # noqa: E402

from ai_brain.strategy_evaluator import Evaluation, evaluate  # noqa: E402
from src.config.evaluator import EvaluatorConfig  # noqa: E402
from src.config.fees import FeesConfig  # noqa: E402
from src.market.history import load_candles, load_funding  # noqa: E402
from src.strategy.spec import FAMILY_NAMES, StrategySpec, family_spec  # noqa: E402

# keys a strategies/*.json file carries besides the spec itself
LIFECYCLE_KEYS = ("source", "performance", "status", "history", "created_at", "approved_at",
                  "updated_at", "retired_at", "evaluation")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="candles CSV(.gz): timestamp,open,high,low,close,volume")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--strategy", help="strategy JSON file (a spec, or a strategies/*.json file)")
    src.add_argument("--family", choices=FAMILY_NAMES, help="built-in family")
    p.add_argument("--param", action="append", default=[], metavar="K=V",
                   help="family or risk parameter (JSON values allowed), repeatable")
    p.add_argument("--funding", help="funding CSV(.gz): timestamp,funding_rate (perp strategies)")
    p.add_argument("--fee-bps", type=float, help="fee per fill in bps (default from config)")
    p.add_argument("--slippage-bps", type=float, help="slippage per market fill in bps")
    p.add_argument("--trials", type=int, default=1, help="distinct hypotheses tried on this data so far (all families)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p.parse_args(argv)


def _value(text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def load_spec(args: argparse.Namespace) -> StrategySpec:
    """The spec from --strategy or from --family/--param."""
    if args.strategy:
        body = json.loads(Path(args.strategy).read_text(encoding="utf-8"))
        return StrategySpec.model_validate({k: v for k, v in body.items() if k not in LIFECYCLE_KEYS})
    params: dict[str, object] = {}
    for item in args.param:
        key, sep, val = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--param expects K=V, got {item!r}")
        params[key.strip()] = _value(val.strip())
    return family_spec(args.family, **params)


def render(ev: Evaluation) -> str:
    """Human-readable summary: IS vs OOS metrics, significance, verdict with reasons."""
    rows = ["total_return", "annual_return", "sharpe", "sortino", "calmar", "max_drawdown", "trades",
            "win_rate", "profit_factor", "expectancy", "exposure", "fees_paid", "funding_paid",
            "gross_pnl", "net_pnl"]
    lines = [f"{ev.spec_id}  ({ev.family}, {ev.bars} bars, fee {ev.fee_bps} bps, slip {ev.slippage_bps} bps)",
             f"{'metric':<16}{'in-sample':>16}{'out-of-sample':>16}"]
    for r in rows:
        a, b = getattr(ev.in_sample, r), getattr(ev.out_of_sample, r)
        lines.append(f"{r:<16}{_fmt(a):>16}{_fmt(b):>16}")
    s = ev.significance
    lines += [f"PSR {s.psr:.3f}  DSR {s.dsr:.3f} ({s.trials} trials)  "
              f"MC drawdown p95 {s.mc_drawdown_p95:.1%}  WF windows profitable {ev.positive_windows:.0%}",
              f"score {ev.score:.3f}  verdict: {'PASS' if ev.passed else 'REJECT'}"]
    lines += [f"  - {r}" for r in ev.reasons]
    return "\n".join(lines) + "\n"


def _fmt(x: float | int | None) -> str:
    if x is None:
        return "n/a"
    return f"{x:d}" if isinstance(x, int) else f"{x:.4f}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        spec = load_spec(args)
    except (ValidationError, ValueError, OSError) as exc:
        sys.stderr.write(f"invalid strategy: {exc}\n")
        return 2
    fee = args.fee_bps
    overrides = {"fees": FeesConfig(spot_taker_bps=fee, spot_maker_bps=fee, perp_taker_bps=fee,
                                    perp_maker_bps=fee)} if fee is not None else {}
    cfg = EvaluatorConfig(**overrides)
    candles = load_candles(args.data)
    funding = load_funding(args.funding) if args.funding else None
    ev = evaluate(spec, candles, funding, cfg, args.trials, slippage_bps=args.slippage_bps)
    sys.stdout.write(ev.model_dump_json() + "\n" if args.json else render(ev))
    return 0


if __name__ == "__main__":
    sys.exit(main())
