"""The evaluator's Dask executor with a local fallback: a missing cluster never empties a cycle.

While the probe (:mod:`ai_brain.evaluation.dask_probe`) passes, batches go to the cluster. When it fails, or
a batch on the cluster fails, the same batch runs on the local process pool, an action alert
names the reason once, and ``/status`` says "dask: unavailable, using local pool (reason)". The
cluster is probed again every ``evaluator.dask_retry_s`` (before a batch, and from :meth:`run`
between cycles); when it passes, work goes back to it. Both executors give identical verdicts.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from ai_brain.evaluation.dask_probe import ProbeResult, one_line, probe_cluster
from ai_brain.evaluation.evaluation_pool import EvaluationPool, dask_address
from ai_brain.evaluation.strategy_evaluator import Evaluation
from src.config.evaluator import EvaluatorConfig
from src.core.events import Alert, Event
from src.strategy.data import Candles, Funding
from src.strategy.spec import StrategySpec

log = logging.getLogger(__name__)

ALERT_KEY = "evaluator:dask"
Prober = Callable[[str, EvaluatorConfig], ProbeResult]


class DaskExecutor:
    """Evaluate on a Dask cluster when it can, else on the local pool (``name = "evaluator"``).

    ``publish`` receives the alerts, ``now_ms`` stamps them; ``monotonic`` and ``prober`` are
    seams for tests. Thread-safe: batches run in worker threads while :meth:`run` re-probes.
    """

    name = "evaluator"

    def __init__(self, cfg: EvaluatorConfig, publish: Callable[[Event], None], now_ms: Callable[[], int],
                 monotonic: Callable[[], float] = time.monotonic, prober: Prober = probe_cluster) -> None:
        self.cfg, self.address = cfg, dask_address(cfg.executor)
        self._publish, self._now_ms, self._monotonic, self._prober = publish, now_ms, monotonic, prober
        self.local = EvaluationPool(cfg.model_copy(update={"executor": "process"}))
        self._remote: EvaluationPool | None = None
        self._lock = threading.RLock()
        self._last_probe: float | None = None
        self.reason = ""
        self.workers = 0
        self.closed = False
        self.counts = {"cluster": 0, "local": 0}

    # ------------------------------------------------------------------ state
    @property
    def available(self) -> bool:
        return self._remote is not None

    def state(self) -> str:
        """The one line ``/status`` shows for the evaluator."""
        if self.closed:
            return "dask: closed"
        if self._remote is not None:
            return f"dask: {self.address}, {self.workers} worker(s)"
        if self._last_probe is None:
            return f"dask: probing {self.address}"
        return f"dask: unavailable, using local pool ({self.reason})"

    def describe(self) -> dict[str, Any]:
        return {"state": self.state(), "evaluations": dict(self.counts)}

    # ------------------------------------------------------------------ probing
    def probe(self) -> bool:
        """Probe now; on success work goes (back) to the cluster, on failure to the local pool."""
        with self._lock:
            self._last_probe = self._monotonic()
            result = self._prober(self.address, self.cfg)
            if result.ok:
                self._up(result)
            else:
                self._down(result.reason)
            return result.ok

    def probe_if_due(self) -> bool:
        """Probe when never probed, or when down and ``dask_retry_s`` has passed; True when up.
        A caller arriving during a probe waits for its answer (bounded by the probe's timeouts)."""
        with self._lock:
            last = self._last_probe
            if self._remote is None and (last is None or self._monotonic() - last >= self.cfg.dask_retry_s):
                return self.probe()
            return self._remote is not None

    def _up(self, result: ProbeResult) -> None:
        was_down = bool(self.reason)
        self._drop_remote()
        self._remote = EvaluationPool(self.cfg, client=result.client, own_client=True)
        self.workers, self.reason = result.workers, ""
        log.info("dask: %s ready, %d worker(s); evaluations go to the cluster", self.address, result.workers)
        if was_down:
            self._alert("info", "Evaluator: Dask cluster back", f"{self.address} passed the probe with "
                        f"{result.workers} worker(s); evaluations go to the cluster again.")

    def _down(self, reason: str) -> None:
        """Switch to the local pool; one error line and one alert per new reason (retries log at info)."""
        self._drop_remote()
        changed, self.reason = reason != self.reason, reason
        if not changed:
            log.info("dask: still unavailable, using local pool (%s)", reason)
            return
        log.error("dask: unavailable, using local pool (%s)", reason)
        self._alert("action", "Evaluator: Dask cluster unavailable",
                    f"{reason}. Discovery continues on the local process pool; the cluster is probed "
                    f"again every {self.cfg.dask_retry_s:.0f} s.")

    def _alert(self, level: Any, title: str, text: str) -> None:
        self._publish(Alert(level, title, text, key=ALERT_KEY, ts_ms=self._now_ms()))

    def _drop_remote(self) -> None:
        remote, self._remote = self._remote, None
        if remote is not None:
            try:
                remote.close()
            except Exception as exc:  # the client of a vanished cluster may fail to close
                log.warning("dask: closing the client failed: %s", one_line(exc))

    # ------------------------------------------------------------------ evaluation
    def evaluate_many(self, specs: Sequence[StrategySpec], candles: Candles, funding: Funding | None = None,
                      trials: int | Sequence[int] = 1) -> list[Evaluation]:
        """Same contract as :meth:`EvaluationPool.evaluate_many`; the cluster first when it is up."""
        remote = self._remote if self.probe_if_due() else None
        if remote is not None:
            try:
                evs = remote.evaluate_many(specs, candles, funding, trials)
            except Exception as exc:  # a lost cluster: this batch is redone locally
                with self._lock:
                    if self._remote is remote:
                        self._down(f"evaluation on the cluster failed: {one_line(exc)}")
            else:
                self.counts["cluster"] += len(evs)
                return evs
        evs = self.local.evaluate_many(specs, candles, funding, trials)
        self.counts["local"] += len(evs)
        return evs

    # ------------------------------------------------------------------ component
    async def run(self) -> None:
        """Probe at start-up, then re-probe while the cluster is missing (so recovery needs no cycle)."""
        while True:
            await asyncio.to_thread(self.probe_if_due)
            await asyncio.sleep(self.cfg.dask_retry_s)

    def close(self) -> None:
        self.closed = True
        with self._lock:
            self._drop_remote()
        self.local.close()

    def terminate(self) -> None:
        """Stop at once (shutdown): kill busy local workers, drop the cluster client."""
        self.closed = True
        self._drop_remote()
        self.local.terminate()


def build_executor(cfg: EvaluatorConfig, publish: Callable[[Event], None],
                   now_ms: Callable[[], int]) -> EvaluationPool | DaskExecutor:
    """The evaluator's executor as configured: the local pool, or Dask with the local fallback."""
    if cfg.executor.startswith("dask://"):
        return DaskExecutor(cfg, publish, now_ms)
    return EvaluationPool(cfg)
