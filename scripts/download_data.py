"""Download historical candles into the local cache (resumable, incremental), or import/export CSV.

    python scripts/download_data.py --exchange binance --symbol BTC/USDT --timeframe 1h --since 2024-01-01
    python scripts/download_data.py --symbol BTC/USDT --timeframe 1h --export btc_1h.csv.gz
    python scripts/download_data.py --symbol BTC/USDT --timeframe 1h --import old_btc_1h.csv.gz
    python scripts/download_data.py --import binance_BTC-USDT_1h.csv.gz   # symbol and timeframe from the name

Only candles the cache lacks are requested; an interrupted run (network loss, Ctrl-C) keeps what it
got and the next run continues from there. Ends with a gap report. Exit codes: 0 done, 2 bad
arguments or file, 3 the exchange failed (partial progress is kept; run again to resume).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

if __package__ in (None, ""):
    import _bootstrap  # noqa: F401  (run as a file: puts the repo root on sys.path)

from tqdm import tqdm

from ai_brain.data.historical_data_fetcher import DownloadResult, HistoricalDataFetcher
from src.config.market import ExchangeConfig
from src.core.timeframes import fmt_ms, parse_iso_ms
from src.exchange.clients import ExchangeClients
from src.exchange.errors import ExchangeAccessError
from src.market.candles_io import CandleFileError
from src.market.replay import symbol_from_path

REPO_ROOT = Path(__file__).resolve().parents[1]
EXIT_OK, EXIT_USAGE, EXIT_EXCHANGE = 0, 2, 3


class ProgressBar:
    """A tqdm bar on stderr fed by the fetcher's ``(done, total)`` callback; closed when done."""

    def __init__(self, label: str, enabled: bool) -> None:
        self.label, self.enabled = label, enabled
        self._bar: tqdm | None = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            self._bar = tqdm(total=total, desc=self.label, unit="candle", unit_scale=True, file=sys.stderr,
                             dynamic_ncols=True, mininterval=0.2)
        if total != self._bar.total:
            self._bar.total = total
        self._bar.update(done - self._bar.n)
        if done >= total:
            self._bar.close()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Download candles into the cache, or import/export CSV.")
    p.add_argument("--exchange", default="binance", help="ccxt exchange id (default binance)")
    p.add_argument("--symbol", action="append", help="e.g. BTC/USDT (repeatable; with --import, taken from a "
                   "file name like binance_BTC-USDT_1h.csv.gz when not given)")
    p.add_argument("--timeframe", help="e.g. 1m, 5m, 1h, 1d (default: from the --import file name, else 1h)")
    p.add_argument("--since", help="first candle, ISO date (UTC), e.g. 2024-01-01")
    p.add_argument("--until", help="stop before this ISO date (default: the newest closed candle)")
    p.add_argument("--root", type=Path, default=REPO_ROOT, help="data root; the cache lives under it")
    p.add_argument("--cache-dir", default=ExchangeConfig().cache_dir, help="cache folder relative to --root")
    p.add_argument("--api-base-url", help="send requests to this base URL instead (a proxy or a fake)")
    p.add_argument("--page-limit", type=int, default=1000, help="candles per request (default 1000)")
    p.add_argument("--import", dest="import_file", type=Path, help="merge this CSV(.gz) into the cache")
    p.add_argument("--export", dest="export_file", type=Path, help="write the cached range to this file")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    if not (args.since or args.import_file or args.export_file):
        p.error("give --since to download, or --import / --export")
    named_tf = None
    if not args.symbol and args.import_file:
        try:
            symbol, named_tf = symbol_from_path(args.import_file)
        except ValueError as exc:
            p.error(f"{exc} (or give --symbol)")
        args.symbol = [symbol]
    if not args.symbol:
        p.error("give --symbol (e.g. BTC/USDT)")
    args.timeframe = args.timeframe or named_tf or "1h"
    return args


def _describe(r: DownloadResult) -> str:
    span = (f"{fmt_ms(r.first_ts)} → {fmt_ms(r.last_ts)}" if r.first_ts is not None and r.last_ts is not None
            else "no candles")
    lines = [f"{r.symbol} {r.timeframe}: {r.rows_in_range} candles ({span}), {r.rows_new} new, "
             f"{r.requests} requests; cache {r.path}"]
    if r.gaps:
        missing = sum(g.missing_bars for g in r.gaps)
        lines.append(f"  gaps: {len(r.gaps)} ({missing} missing bars) — the exchange has no data there")
        lines += [f"    from {fmt_ms(g.first_missing_ms)}: {g.missing_bars} bars" for g in r.gaps[:10]]
    else:
        lines.append("  gaps: none")
    if r.report is not None:
        lines.append(f"  validator: {r.report.verdict}" + (f" — {'; '.join(r.report.reasons)}"
                                                            if r.report.reasons else ""))
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> int:
    cfg = ExchangeConfig(id=args.exchange, futures_id=None, api_base_url=args.api_base_url)
    clients = ExchangeClients(cfg, mode="paper")
    out: list[dict] = []
    try:
        fetcher = HistoricalDataFetcher(clients.get(args.exchange), args.root / args.cache_dir,
                                        page_limit=args.page_limit)
        for symbol in args.symbol:
            out.append(await _one(fetcher, symbol, args))
    except ExchangeAccessError as exc:
        print(f"exchange error: {exc} — what to do: {exc.action}. Progress so far is cached; run again "
              "to resume.", file=sys.stderr)
        return EXIT_EXCHANGE
    except (CandleFileError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        await clients.close()
    if args.json:
        print(json.dumps(out if len(out) > 1 else out[0], default=str))
    return EXIT_OK


async def _one(fetcher: HistoricalDataFetcher, symbol: str, args: argparse.Namespace) -> dict:
    result: dict = {"symbol": symbol, "timeframe": args.timeframe}
    if args.import_file:
        result["imported_new"] = fetcher.import_csv(args.import_file, symbol, args.timeframe)
        _say(args, f"{symbol} {args.timeframe}: imported {result['imported_new']} new candles")
    if args.since:
        bar = ProgressBar(f"{symbol} {args.timeframe}", enabled=not (args.quiet or args.json))
        fetcher.progress = bar
        until = parse_iso_ms(args.until) if args.until else None
        r = await fetcher.download(symbol, args.timeframe, parse_iso_ms(args.since), until)
        result.update(r.summary())
        _say(args, _describe(r))
    if args.export_file:
        lo = parse_iso_ms(args.since) if args.since else None
        hi = parse_iso_ms(args.until) if args.until else None
        result["exported"] = fetcher.export_csv(args.export_file, symbol, args.timeframe, lo, hi)
        _say(args, f"{symbol} {args.timeframe}: exported {result['exported']} candles to {args.export_file}")
    return result


def _say(args: argparse.Namespace, text: str) -> None:
    if not args.json:
        print(text)


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
