"""Backtest and judge one strategy from the shell; prints the same figures the bot stores.

    python -m scripts.backtest --data candles.csv.gz --family momentum --param fast=10 \
        --param slow=50 --param ma=sma
    python scripts/backtest.py --data candles.csv.gz --strategy strategies/testing/x.json --json

--strategy takes a bare spec or one of the bot's strategies/<folder>/*.json files. The figures
are shown for the whole period (JSON key ``full``) beside in-sample and out-of-sample. Bad input
(a missing file, an unknown parameter, too few bars) is reported in one line, exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__ in (None, ""):
    import _bootstrap  # noqa: F401  (repo root importable when run as a file)

from pydantic import ValidationError

from ai_brain.evaluation import statistics as st
from ai_brain.evaluation.backtest_engine import cost_model, run_backtest
from ai_brain.evaluation.strategy_evaluator import Evaluation, evaluate
from src.config.evaluator import EvaluatorConfig
from src.config.fees import FeesConfig
from src.market.history import load_candles, load_funding
from src.orders.fees import FeeSchedule
from src.strategy.data import Candles
from src.strategy.spec import FAMILY_NAMES, StrategySpec, family_spec

EXIT_BAD_INPUT = 2

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
        if not isinstance(body, dict):
            raise ValueError(f"{args.strategy} holds no JSON object")
        if isinstance(body.get("spec"), dict):  # one of the bot's strategy records: the spec is inside
            body = body["spec"]
        return StrategySpec.model_validate({k: v for k, v in body.items() if k not in LIFECYCLE_KEYS})
    params: dict[str, object] = {}
    for item in args.param:
        key, sep, val = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--param expects K=V, got {item!r}")
        params[key.strip()] = _value(val.strip())
    return family_spec(args.family, **params)


def one_line(exc: BaseException) -> str:
    """A validation error as ``field: problem; field: problem`` (no URLs, no input dumps)."""
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'spec'}: {e['msg'].removeprefix('Value error, ')}"
                         for e in exc.errors())
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON ({exc.msg} at line {exc.lineno})"
    if isinstance(exc, OSError):
        return f"{exc.strerror or type(exc).__name__}: {exc.filename or ''}".strip()
    return " ".join(str(exc).split())


def whole_period(spec: StrategySpec, candles: Candles, funding: object, cfg: EvaluatorConfig,
                 slippage_bps: float | None) -> st.Metrics:
    """The same engine and costs over every bar: what the strategy did in the whole file."""
    slip = cfg.slippage_bps if slippage_bps is None else slippage_bps
    costs = cost_model(spec, FeeSchedule.from_config(cfg.fees), slip)  # the evaluator's own cost model
    result = run_backtest(spec, candles, funding, costs, cfg.initial_cash,  # type: ignore[arg-type]
                          cfg.maintenance_margin, start=0, end=len(candles))
    return st.compute_metrics(result, candles.step_ms())


def render(ev: Evaluation, full: st.Metrics) -> str:
    """Human-readable summary: whole period, IS and OOS metrics, significance, verdict with reasons."""
    rows = ["total_return", "annual_return", "sharpe", "sortino", "calmar", "max_drawdown", "trades",
            "win_rate", "profit_factor", "expectancy", "exposure", "fees_paid", "funding_paid",
            "gross_pnl", "net_pnl"]
    lines = [f"{ev.spec_id}  ({ev.family}, {ev.bars} bars, fee {ev.fee_bps} bps, slip {ev.slippage_bps} bps)",
             f"{'metric':<16}{'whole period':>16}{'in-sample':>16}{'out-of-sample':>16}"]
    for r in rows:
        f, a, b = getattr(full, r), getattr(ev.in_sample, r), getattr(ev.out_of_sample, r)
        lines.append(f"{r:<16}{_fmt(f):>16}{_fmt(a):>16}{_fmt(b):>16}")
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
        sys.stderr.write(f"invalid strategy: {one_line(exc)}\n")
        return EXIT_BAD_INPUT
    fee = args.fee_bps
    overrides = {"fees": FeesConfig(spot_taker_bps=fee, spot_maker_bps=fee, perp_taker_bps=fee,
                                    perp_maker_bps=fee)} if fee is not None else {}
    cfg = EvaluatorConfig(**overrides)
    try:
        candles = load_candles(args.data)
        funding = load_funding(args.funding) if args.funding else None
    except (ValueError, OSError, KeyError) as exc:
        sys.stderr.write(f"cannot read the data: {one_line(exc)}\n")
        return EXIT_BAD_INPUT
    try:
        ev = evaluate(spec, candles, funding, cfg, args.trials, slippage_bps=args.slippage_bps)
        full = whole_period(spec, candles, funding, cfg, args.slippage_bps)
    except ValueError as exc:
        sys.stderr.write(f"cannot backtest: {one_line(exc)}\n")
        return EXIT_BAD_INPUT
    if args.json:
        sys.stdout.write(json.dumps({**ev.model_dump(mode="json"), "full": full.model_dump(mode="json")}) + "\n")
    else:
        sys.stdout.write(render(ev, full))
    return 0


if __name__ == "__main__":
    sys.exit(main())
