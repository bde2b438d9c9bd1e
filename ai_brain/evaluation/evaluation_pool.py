"""Batch evaluation off the trading loop, through a pluggable executor.

`evaluator.executor: "process"` runs a local `ProcessPoolExecutor` (spawned workers, so a
fork can never copy the event loop's threads); `"dask://host:port"` sends the same work to an
existing Dask distributed scheduler for large sweeps. Specs are sent in chunks and the data is
shipped once per chunk (once per cluster for Dask), and results come back in input order.
Because `evaluate` is deterministic, both executors return identical evaluations.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from ai_brain.evaluation.strategy_evaluator import Evaluation, evaluate
from src.config.evaluator import EvaluatorConfig
from src.strategy.data import Candles, Funding
from src.strategy.spec import StrategySpec


def evaluate_chunk(specs: list[StrategySpec], candles: Candles, funding: Funding | None,
                   cfg: EvaluatorConfig, trials: list[int]) -> list[Evaluation]:
    """Worker entry point: evaluate a chunk in order (module-level so it pickles)."""
    return [evaluate(s, candles, funding, cfg, n) for s, n in zip(specs, trials, strict=True)]


def dask_address(executor: str) -> str:
    """`dask://host:port` (config form) → `tcp://host:port` (Dask client form)."""
    if not executor.startswith("dask://"):
        raise ValueError(f"not a dask executor: {executor!r}")
    return "tcp://" + executor.removeprefix("dask://")


def _chunks(n: int, parts: int) -> list[range]:
    parts = max(1, min(parts, n))
    bounds = [round(k * n / parts) for k in range(parts + 1)]
    return [range(a, b) for a, b in itertools.pairwise(bounds) if b > a]


class EvaluationPool:
    """Evaluate many specs in parallel; use as a context manager or call `close()`.

    `client` may be given to reuse an existing `distributed.Client` (e.g. in tests, or the
    probe's; `own_client` then says whether `close()` closes it); otherwise one is created from
    `cfg.executor` when it names a Dask scheduler.
    """

    def __init__(self, cfg: EvaluatorConfig | None = None, client: Any = None, own_client: bool = False) -> None:
        self.cfg = cfg or EvaluatorConfig()
        self._client = client
        self._own_client = own_client
        self._pool: ProcessPoolExecutor | None = None
        if client is None and self.cfg.executor.startswith("dask://"):
            from distributed import Client  # optional dependency, only for Dask executors

            self._client = Client(dask_address(self.cfg.executor))
            self._own_client = True
        elif client is None:
            ctx = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(max_workers=self.cfg.workers, mp_context=ctx)

    def evaluate_many(self, specs: Sequence[StrategySpec], candles: Candles, funding: Funding | None = None,
                      trials: int | Sequence[int] = 1) -> list[Evaluation]:
        """Evaluate `specs` on the same data; `trials` is one count for all or one per spec."""
        specs = list(specs)
        counts = [trials] * len(specs) if isinstance(trials, int) else list(trials)
        if len(counts) != len(specs):
            raise ValueError("trials must be an int or have one entry per spec")
        if not specs:
            return []
        parts = _chunks(len(specs), 4 * self.cfg.workers)
        jobs = [([specs[i] for i in r], [counts[i] for i in r]) for r in parts]
        if self._client is not None:
            return self._run_dask(jobs, candles, funding)
        assert self._pool is not None
        futures = [self._pool.submit(evaluate_chunk, s, candles, funding, self.cfg, n) for s, n in jobs]
        return [ev for f in futures for ev in f.result()]

    def _run_dask(self, jobs: list, candles: Candles, funding: Funding | None) -> list[Evaluation]:
        # hash=False: a fresh key per batch. Under the default content-hash key, re-sending the same
        # candles (every batch of a genetic search) races with the release of the previous batch's
        # copy and the scheduler cancels the tasks for "lost dependencies".
        c_fut = self._client.scatter(candles, broadcast=True, hash=False)
        f_fut = self._client.scatter(funding, broadcast=True, hash=False) if funding is not None else None
        futures = [self._client.submit(evaluate_chunk, s, c_fut, f_fut, self.cfg, n, pure=False)
                   for s, n in jobs]
        # Bounded: a cluster that lost its last worker would otherwise keep the batch waiting forever.
        deadline = time.monotonic() + self.cfg.dask_task_timeout_s
        return [ev for f in futures for ev in f.result(timeout=max(0.0, deadline - time.monotonic()))]

    async def evaluate_many_async(self, specs: Sequence[StrategySpec], candles: Candles,
                                  funding: Funding | None = None,
                                  trials: int | Sequence[int] = 1) -> list[Evaluation]:
        """Same as `evaluate_many`, awaited from the event loop without blocking it."""
        return await asyncio.to_thread(self.evaluate_many, specs, candles, funding, trials)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._own_client and self._client is not None:
            self._client.close()
            self._client = None

    def terminate(self) -> None:
        """Stop at once: cancel queued work and kill busy workers (a shutdown must not wait for a
        half-finished evaluation; its result would be recomputed next cycle anyway)."""
        if self._pool is not None:
            procs = list(getattr(self._pool, "_processes", {}).values())
            self._pool.shutdown(wait=False, cancel_futures=True)
            for proc in procs:
                if proc.is_alive():
                    proc.terminate()
            for proc in procs:
                proc.join(timeout=2.0)
            self._pool = None
        if self._own_client and self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> EvaluationPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
