"""Print the funding carry over history: every carry, why it started and ended, and what it earned.

    python -m src.funding.report --funding FUNDING.csv.gz --candles SPOT_1h.csv.gz [--perp PERP_1h.csv.gz]
        [--config config.yaml] [--capital 10000] [--json]

Uses the ``funding:`` section of the config (entry/exit thresholds, costs, bands) and the one carry
rule the bot trades with. Without perp candles the perp is priced at spot (basis P&L is then zero).
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from src.config import load_config
from src.funding.backtest import CarryBacktest, run_carry_backtest
from src.funding.carry import CarryParams
from src.market.history import load_candles, load_funding
from src.orders.fees import FeeSchedule

REPO_ROOT = Path(__file__).resolve().parents[2]


def _day(ms: int | None) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M") if ms else "open"


def rows(result: CarryBacktest) -> list[dict[str, object]]:
    """One dict per carry, in quote currency."""
    return [{"entry": _day(t.entry_ms), "exit": _day(t.exit_ms), "entry_apr": round(t.entry_apr, 4),
             "settlements": t.settlements, "funding_quote": round(t.funding_quote, 2),
             "costs_quote": round(t.fees_quote + t.slippage_quote, 2), "basis_pnl_quote": round(t.price_pnl_quote, 2),
             "net_quote": round(t.net_quote, 2), "rebalances": t.rebalances, "exit_reason": t.exit_reason}
            for t in result.trades]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Funding carry over history")
    p.add_argument("--funding", type=Path, required=True, help="timestamp,funding_rate (gzip) CSV")
    p.add_argument("--candles", type=Path, required=True, help="spot candles (gzip) CSV")
    p.add_argument("--perp", type=Path, help="perp candles; default: priced at spot")
    p.add_argument("--config", type=Path, default=REPO_ROOT / "config.yaml")
    p.add_argument("--capital", type=float, default=10_000.0)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    app = load_config(a.config)
    params = CarryParams.from_config(app.funding, fees=FeeSchedule.from_config(app.fees))
    funding, spot = load_funding(a.funding), load_candles(a.candles)
    first = int(funding.ts[0]) - params.lookback_periods * int(params.period_hours * 3_600_000)
    start = int((spot.ts < first).sum())
    result = run_carry_backtest(funding, spot.slice(start, len(spot)), params,
                                perp=load_candles(a.perp) if a.perp else None, capital_quote=a.capital)
    summary = {k: round(float(v), 4) for k, v in result.summary().items()}
    out: dict[str, Any] = {"summary": summary, "carries": rows(result)}
    if a.json:
        print(json.dumps(out, indent=2))
        return 0
    for r in out["carries"]:
        print(f"{r['entry']} → {r['exit']:16s} in at {r['entry_apr']:+.1%}/yr  {r['settlements']:4d} settlements  "
              f"funding {r['funding_quote']:+9.2f}  costs {r['costs_quote']:7.2f}  net {r['net_quote']:+9.2f}  "
              f"{r['exit_reason']}")
    print(out["summary"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
