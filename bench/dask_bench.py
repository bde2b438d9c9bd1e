"""Scale-out benchmark: full evaluations per second, local process pool vs a real Dask cluster.

    python bench/dask_bench.py [--bars N] [--specs K] [--repeat R] [--json]

On the last N real BTC/USDT 1-hour bars, K template specs are evaluated in full (the default
evaluator settings: walk-forward, bootstrap, Monte Carlo, look-ahead check) by
  local    the evaluator's process pool (`evaluator.workers`, default 2)
  dask-1   a `dask scheduler` and one `dask worker` (1 thread), separate processes on loopback
  dask-2   the same scheduler with a second worker
The cluster's processes run from a temporary folder with the project installed the documented
way (pip install, as in tests/evaluator/dask_cluster.py). Every figure comes from this one run;
times are medians of R batches after one warm-up batch (numba compilation and process start
excluded). Verdicts are checked identical between executors before a ratio is printed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from statistics import median

if __package__ in (None, ""):  # run as a file: make the repo root importable
    _ROOT = str(Path(__file__).resolve().parents[1])
    if _ROOT not in sys.path:
        sys.path.insert(0, _ROOT)

from ai_brain.evaluation.dask_probe import probe_cluster
from ai_brain.evaluation.evaluation_pool import EvaluationPool
from ai_brain.evaluation.strategy_evaluator import Evaluation
from bench.template_specs import DATA, template_specs
from src.config.evaluator import EvaluatorConfig
from src.market.history import load_candles
from src.strategy.data import Candles
from src.strategy.spec import StrategySpec
from tests.evaluator.dask_cluster import Cluster, make_env


def _rate(run: Callable[[], list[Evaluation]], n: int, repeat: int) -> tuple[float, list[str]]:
    """Evaluations per second (median of ``repeat`` batches after a warm-up) and the verdicts."""
    verdicts = [e.model_dump_json() for e in run()]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return n / median(times), verdicts


def _dask_rates(cfg: EvaluatorConfig, specs: list[StrategySpec], candles: Candles,
                repeat: int) -> dict[str, tuple[float, list[str]]]:
    out: dict[str, tuple[float, list[str]]] = {}
    with tempfile.TemporaryDirectory(prefix="dask-bench-") as tmp:
        python = make_env(Path(tmp) / "env", with_project=True)
        cluster = Cluster(Path(tmp))
        try:
            address = cluster.start_scheduler(python)
            for n in (1, 2):
                cluster.start_worker(python, f"w{n}", nthreads=1)
                probe = probe_cluster(address, cfg)
                if not probe.ok:
                    raise SystemExit(f"dask cluster not ready: {probe.reason}")
                probe.client.wait_for_workers(n, timeout=120)
                with EvaluationPool(cfg, client=probe.client, own_client=True) as pool:
                    out[f"dask-{n}"] = _rate(partial(pool.evaluate_many, specs, candles), len(specs), repeat)
        finally:
            cluster.stop()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=3000)
    ap.add_argument("--specs", type=int, default=24)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    full = load_candles(DATA)
    candles = full.slice(len(full) - args.bars, len(full))
    specs, cfg = template_specs(candles, args.specs), EvaluatorConfig()
    with EvaluationPool(cfg) as pool:
        rates = {"local": _rate(lambda: pool.evaluate_many(specs, candles), len(specs), args.repeat)}
    rates.update(_dask_rates(cfg, specs, candles, args.repeat))
    if any(v != rates["local"][1] for _r, v in rates.values()):
        print("verdicts differ between executors; no ratio printed", file=sys.stderr)
        return 1
    res = {"bars": args.bars, "specs": args.specs, "local_workers": cfg.workers,
           **{f"{k}_evals_per_s": r for k, (r, _v) in rates.items()},
           "dask-1_vs_local": rates["dask-1"][0] / rates["local"][0],
           "dask-2_vs_local": rates["dask-2"][0] / rates["local"][0],
           "dask-2_vs_dask-1": rates["dask-2"][0] / rates["dask-1"][0]}
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        for key, value in res.items():
            print(f"{key:24s} {value:10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
