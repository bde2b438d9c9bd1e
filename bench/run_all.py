"""Run every benchmark once, one after another, and print each one's own report.

Each benchmark measures ours against its named peer inside its own run (so a ratio is never
built from figures taken on different days); this script only saves typing. Figures go into
the README's benchmark table by hand, with the date and the machine they were measured on.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
RUNS: list[tuple[str, list[str]]] = [
    ("validator_bench.py", []),
    ("backtest_bench.py", []),
    ("latency_bench.py", []),
    ("brain_bench.py", []),
    ("live_orders_bench.py", []),
    ("telegram_outbox_bench.py", []),
    ("dask_bench.py", []),
]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="*", help="run only these scripts (file names)")
    p.add_argument("--json", action="store_true", help="pass --json to every benchmark")
    args = p.parse_args(argv)
    failed = 0
    for script, extra in RUNS:
        if args.only and script not in args.only:
            continue
        cmd = [sys.executable, str(BENCH / script), *extra, *(["--json"] if args.json else [])]
        print(f"\n=== {script} ===", flush=True)
        started = time.monotonic()
        rc = subprocess.call(cmd)
        print(f"--- {script}: exit {rc} in {time.monotonic() - started:.1f} s", flush=True)
        failed += rc != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
