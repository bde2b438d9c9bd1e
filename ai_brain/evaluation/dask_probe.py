"""The start-up probe of a Dask cluster: can its scheduler and workers evaluate our strategies?

A cluster that is up but cannot import the project fails every evaluation with a traceback deep
inside Dask ("No module named 'ai_brain'" on a worker, "different environments" on the
scheduler). The probe asks each side in turn with a function that needs nothing but the standard
library, then evaluates one known spec on the cluster and compares it with the same evaluation
done here, so the answer is one line naming what is missing on which side.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ai_brain.evaluation.strategy_evaluator import evaluate
from src.config.evaluator import EvaluatorConfig
from src.strategy.data import Candles
from src.strategy.spec import StrategySpec, family_spec

log = logging.getLogger(__name__)

# What a scheduler and a worker must import: the task (ai_brain) and the data it carries (src).
PROJECT_MODULES = ("ai_brain.evaluation.evaluation_pool", "src.strategy.spec", "src.strategy.data")
INSTALL_HINT = "install the project there: pip install '.[dask]' (README, Scale out)"


@dataclass(frozen=True)
class ProbeResult:
    """The verdict of one probe; ``client`` is the connected client when ``ok``."""

    ok: bool
    reason: str = ""
    workers: int = 0
    client: Any = None


def one_line(exc: BaseException) -> str:
    """``Type: first line`` of an exception, for a log line or an alert."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


def _import_checker() -> Callable[[tuple[str, ...]], list[str]]:
    """A function pickled by value (it is local), so a side lacking the project can still run it."""

    def missing(names: tuple[str, ...]) -> list[str]:
        import importlib

        out = []
        for name in names:
            try:
                importlib.import_module(name)
            except Exception as exc:  # any import failure is what we came to report
                out.append(f"{name} ({type(exc).__name__}: {str(exc)[:120]})")
        return out

    return missing


def _python_minor() -> Callable[[], str]:
    def minor() -> str:
        import sys as _sys

        return f"{_sys.version_info[0]}.{_sys.version_info[1]}"

    return minor


def known_candles(bars: int = 400, seed: int = 11) -> Candles:
    """A fixed random walk: the same bars on every machine, no data file needed."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, bars)))
    spread = np.abs(rng.normal(0.0, 0.004, bars)) * close
    ts = 1_600_000_000_000 + 3_600_000 * np.arange(bars, dtype=np.int64)
    return Candles(ts=ts, open=np.roll(close, 1), high=close + spread, low=close - spread, close=close,
                   volume=np.full(bars, 10.0))


def known_spec() -> StrategySpec:
    return family_spec("momentum", fast=5, slow=20, ma="sma", symbols=["BTC/USDT"], timeframe="1h")


def probe_config(cfg: EvaluatorConfig) -> EvaluatorConfig:
    """The operator's costs and gates with the lightest resampling, so the probe takes a moment."""
    return cfg.model_copy(update={"bootstrap_samples": 100, "monte_carlo_runs": 100, "lookahead_checks": 1})


def _connect(address: str, timeout_s: float) -> tuple[Any, str]:
    try:
        from distributed import Client
    except ImportError:
        return None, "the bot's environment lacks Dask: pip install 'dask[distributed]'"
    try:
        return Client(address, timeout=timeout_s, set_as_default=False), ""
    except Exception as exc:  # OSError, TimeoutError, version handshake errors
        return None, f"scheduler {address} unreachable ({one_line(exc)}); is `dask scheduler` running, port open?"


def _sides_problem(client: Any, address: str, timeout_s: float) -> str:
    """What the scheduler or a worker lacks, or ""; checks the scheduler first (it unpickles tasks)."""
    try:
        client.wait_for_workers(1, timeout=timeout_s)
    except Exception:
        return f"no worker connected to scheduler {address} within {timeout_s:.0f} s; start `dask worker {address}`"
    checker, ours = _import_checker(), f"{sys.version_info[0]}.{sys.version_info[1]}"
    sched_py = client.run_on_scheduler(_python_minor())
    if sched_py != ours:
        return f"scheduler {address} runs Python {sched_py}, the bot {ours}: use the same minor version"
    missing = client.run_on_scheduler(checker, PROJECT_MODULES)
    if missing:
        return f"scheduler {address} cannot import {missing[0]}; {INSTALL_HINT}"
    for worker, py in sorted(client.run(_python_minor()).items()):
        if py != ours:
            return f"worker {worker} runs Python {py}, the bot {ours}: use the same minor version"
    for worker, lacks in sorted(client.run(checker, PROJECT_MODULES).items()):
        if lacks:
            return f"worker {worker} cannot import {lacks[0]}; {INSTALL_HINT}"
    return ""


def _evaluation_problem(client: Any, cfg: EvaluatorConfig, timeout_s: float) -> str:
    """Evaluate the known spec on the cluster and here; a difference means different code or libraries."""
    from ai_brain.evaluation.evaluation_pool import evaluate_chunk

    small, spec, candles = probe_config(cfg), known_spec(), known_candles()
    try:
        remote = client.submit(evaluate_chunk, [spec], candles, None, small, [1], pure=False).result(timeout_s)
    except Exception as exc:
        return f"the known spec failed on the cluster: {one_line(exc)}"
    if remote[0].model_dump_json() != evaluate(spec, candles, None, small, 1).model_dump_json():
        return "the cluster's verdict on the known spec differs from the bot's: install the same project version"
    return ""


def probe_cluster(address: str, cfg: EvaluatorConfig) -> ProbeResult:
    """Connect to ``address`` (``tcp://host:port``) and check both sides; never raises."""
    timeout_s = cfg.dask_probe_timeout_s
    client, problem = _connect(address, timeout_s)
    if client is None:
        return ProbeResult(False, problem)
    try:
        problem = _sides_problem(client, address, timeout_s) or _evaluation_problem(client, cfg, timeout_s)
    except Exception as exc:  # a dropped connection mid-probe is one more reason, not a crash
        problem = f"probe of {address} failed: {one_line(exc)}"
    if problem:
        client.close()
        return ProbeResult(False, problem)
    workers = len(client.nthreads())
    return ProbeResult(True, "", workers, client)
