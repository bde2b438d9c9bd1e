"""Check candle (or funding) files with the data-integrity validator before anything trades on them.

    python scripts/validate_data.py data/binance_BTC-USDT_1h.csv.gz
    python scripts/validate_data.py FILE [FILE ...] --json
    python scripts/validate_data.py FILE --now now        # also flag a stale tail

Prints, per file, the count of each problem kind, the first offending timestamps and a verdict.
Exit code is the worst verdict: 0 OK, 1 DEGRADED, 2 BLOCKED (an unreadable file counts as BLOCKED).
Funding files (header ``timestamp,funding_rate``) get the funding checks.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    import _bootstrap  # noqa: F401  (run as a file: puts the repo root on sys.path)

import pandas as pd

from ai_brain.data.data_integrity_validator import check_funding, validate_candles, worst
from src.config.market import DataQualityConfig
from src.core.timeframes import fmt_ms, parse_iso_ms, timeframe_ms
from src.market.candles_io import CandleFileError, load_candles

EXIT = {"OK": 0, "DEGRADED": 1, "BLOCKED": 2}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Validate candle/funding files: exit 0 OK, 1 DEGRADED, 2 BLOCKED")
    p.add_argument("files", nargs="+", type=Path, help="CSV, CSV.gz or .npz candle files")
    p.add_argument("--timeframe", help="e.g. 1h (default: inferred from the timestamps)")
    p.add_argument("--now", help="ISO date or 'now': also check that the newest candle is fresh")
    p.add_argument("--examples", type=int, default=5, help="offending timestamps shown per kind")
    p.add_argument("--json", action="store_true", help="one JSON object per file")
    return p.parse_args(argv)


def _header(path: Path) -> str:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            return fh.readline().strip()
    except (OSError, UnicodeDecodeError):
        return ""


def check_file(path: Path, args: argparse.Namespace, cfg: DataQualityConfig) -> dict:
    """The report of one file as a JSON-ready dict (verdict BLOCKED with an error if unreadable)."""
    try:
        if path.suffix != ".npz" and _header(path) == "timestamp,funding_rate":
            return _check_funding(path, cfg, args.examples)
        df = load_candles(path, strict=False)
    except (CandleFileError, ValueError, OSError) as exc:
        return {"file": str(path), "verdict": "BLOCKED", "error": str(exc), "findings": {}}
    now_ms = None
    if args.now:
        now_ms = int(time.time() * 1000) if args.now == "now" else parse_iso_ms(args.now)
    tf = timeframe_ms(args.timeframe) if args.timeframe else None
    report = validate_candles(df, cfg, symbol=path.name, timeframe_ms=tf, now_ms=now_ms)
    return {"file": str(path), **report.to_dict(args.examples)}


def _check_funding(path: Path, cfg: DataQualityConfig, examples: int) -> dict:
    fr = pd.read_csv(path, dtype={"timestamp": "int64", "funding_rate": "float64"})
    findings = check_funding(fr["timestamp"].to_numpy(), fr["funding_rate"].to_numpy(), cfg)
    return {"file": str(path), "rows": len(fr), "kind": "funding", "verdict": worst(findings),
            "first_ts": int(fr["timestamp"].iloc[0]) if len(fr) else None,
            "last_ts": int(fr["timestamp"].iloc[-1]) if len(fr) else None,
            "reasons": [f.reason() for f in findings if f.severity != "info"],
            "findings": {f.kind: {"severity": f.severity, "count": f.count, "detail": f.detail,
                                  "first_timestamps": [int(t) for t in f.timestamps[:examples]]}
                         for f in findings}}


def render(rep: dict) -> str:
    """A person-readable block for one file."""
    if "error" in rep:
        return f"{rep['file']}: cannot read — {rep['error']}\n  verdict: BLOCKED"
    span = f"{fmt_ms(rep['first_ts'])} → {fmt_ms(rep['last_ts'])}" if rep.get("first_ts") is not None else ""
    tf = f", every {rep['timeframe_ms'] // 60_000} min" if rep.get("timeframe_ms") else ""
    lines = [f"{rep['file']}: {rep['rows']:,} rows{tf}, {span}"]
    if not rep["findings"]:
        lines.append("  no problems found")
    for kind, f in rep["findings"].items():
        first = ", ".join(fmt_ms(t) for t in f["first_timestamps"])
        lines.append(f"  {kind:<20} {f['severity']:<8} {f['count']:>7}  {f['detail']}")
        if first:
            lines.append(f"  {'':<20} first at: {first}")
    lines.append(f"  verdict: {rep['verdict']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cfg = DataQualityConfig()
    reports = [check_file(path, args, cfg) for path in args.files]
    for rep in reports:
        print(json.dumps(rep) if args.json else render(rep))
    return max(EXIT[r["verdict"]] for r in reports)


if __name__ == "__main__":
    sys.exit(main())
