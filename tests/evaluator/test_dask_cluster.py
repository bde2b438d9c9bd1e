"""The evaluator on a real Dask cluster: separate `dask scheduler` / `dask worker` processes.

Each side runs from a temporary folder outside the repo with the project installed the documented
way (tests/evaluator/dask_cluster.py), so nothing reaches the repo through ``sys.path`` the way an
in-process LocalCluster would. The discovery cycle is the real one (templates and genetic search;
the LLM is off), compared with the same cycle on the local process pool.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ai_brain.discovery.brain_cycle import BrainInputs
from ai_brain.discovery.lifecycle import Lifecycle
from ai_brain.evaluation.dask_executor import ALERT_KEY, DaskExecutor
from ai_brain.evaluation.dask_probe import known_candles, known_spec, probe_cluster, probe_config
from ai_brain.evaluation.evaluation_pool import EvaluationPool
from src.app.supervisor import Supervisor
from src.app.wire_brain import build_cycle, build_store
from src.config import Secrets
from src.config import parse_config as parse
from src.config.evaluator import EvaluatorConfig
from src.core.bus import EventBus
from src.core.events import Alert
from src.market.cache import MarketCache
from src.runtime.context import Paths
from src.state.store import StateStore
from src.strategy.spec import family_spec
from tests.brain.conftest import FakeClock
from tests.evaluator.dask_cluster import Cluster, make_env
from tests.rig import RigContext

pytest.importorskip("distributed", reason="dask is not installed: pip install 'dask[distributed]'")

_LIGHT = {"bootstrap_samples": 200, "monte_carlo_runs": 200, "lookahead_checks": 3, "workers": 2}


@pytest.fixture(scope="module")
def envs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two environments outside the repo: one with the project installed, one with only its dependencies."""
    root = tmp_path_factory.mktemp("dask-envs")
    return {"full": make_env(root / "full", with_project=True), "bare": make_env(root / "bare", with_project=False)}


@pytest.fixture
def cluster(tmp_path_factory: pytest.TempPathFactory):
    c = Cluster(tmp_path_factory.mktemp("dask-cluster"))
    yield c
    c.stop()


def _context(root: Path, window, executor: str) -> RigContext:
    cfg = parse({"llm": {"enabled": False}, "evaluator": {**_LIGHT, "executor": executor},
                 "brain": {"use_pool": True, "generators": {"templates_per_cycle": 8, "ga_population": 6,
                                                            "ga_generations": 1}, "lifecycle": {"keep_per_cycle": 4}}})
    paths = Paths(root)
    paths.ensure()
    ctx = RigContext(config=cfg, secrets=Secrets(), paths=paths, bus=EventBus(), store=StateStore(paths.state),
                     clock=FakeClock(int(window.ts[-1]) + 3_600_000))  # type: ignore[arg-type]
    cache = MarketCache("1h")
    for i in range(len(window)):
        cache.series("BTC/USDT").append(int(window.ts[i]), window.open[i], window.high[i], window.low[i],
                                        window.close[i], window.volume[i])
    ctx.services.update(market_cache=cache)
    return ctx


def _cycle(ctx: RigContext):
    store = build_store(ctx)
    lifecycle = Lifecycle(store, ctx.config.brain.lifecycle, "replay", ctx.bus.publish, ctx.clock.now_ms, 3_600_000)
    return build_cycle(ctx, store, lifecycle, Supervisor(ctx), BrainInputs(ctx.services["market_cache"])).cycle


async def _run_cycle(ctx: RigContext) -> tuple[list[tuple], object, dict]:
    cycle = _cycle(ctx)
    try:
        written = await cycle.cycle_once()
        status = ctx.status.snapshot()
    finally:
        await cycle.close()
    return [(r.id, r.status, r.verdict.model_dump_json()) for r in written], cycle.pool, status


def _evaluations(root: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((root / "state" / "evaluations").glob("*.json"))}


def _drain(sub) -> list[Alert]:
    return [sub.queue.get_nowait() for _ in range(sub.queue.qsize())]


async def _noop(_event: object) -> None:
    return None


@pytest.fixture(scope="module")
def window(btc_1h):
    return btc_1h.slice(len(btc_1h) - 2500, len(btc_1h))


async def test_a_discovery_cycle_on_the_cluster_files_the_same_verdicts_as_the_local_pool(
        envs, cluster, window, tmp_path) -> None:
    address = cluster.start_scheduler(envs["full"])
    cluster.start_worker(envs["full"], "w1", nthreads=2)
    remote_ctx = _context(tmp_path / "cluster", window, "dask://" + address.removeprefix("tcp://"))
    local_ctx = _context(tmp_path / "local", window, "process")

    remote, pool, status = await _run_cycle(remote_ctx)
    local, _local_pool, _status = await _run_cycle(local_ctx)

    assert isinstance(pool, DaskExecutor)
    assert pool.counts['cluster'] > 0, pool.describe()
    assert pool.counts['local'] == 0, pool.describe()
    assert status["evaluator"]["state"] == f"dask: {address}, 1 worker(s)"
    assert remote
    assert remote == local
    assert _evaluations(tmp_path / "cluster") == _evaluations(tmp_path / "local")


async def test_evaluations_on_the_cluster_equal_the_local_pool_with_the_same_seeds(envs, cluster, window) -> None:
    address = cluster.start_scheduler(envs["full"])
    cluster.start_worker(envs["full"], "w1")
    cluster.start_worker(envs["full"], "w2")
    cfg = parse({"evaluator": {**_LIGHT, "executor": "dask://" + address.removeprefix("tcp://")}}).evaluator
    specs = [family_spec("momentum", fast=f, slow=40, ma="ema") for f in (8, 12)] + [
        family_spec("breakout", channel=24, stop_atr=2.5)]
    executor = DaskExecutor(cfg, lambda _e: None, lambda: 0)
    try:
        assert executor.probe(), executor.reason
        remote = executor.evaluate_many(specs, window, trials=[1, 3, 5])
    finally:
        executor.close()
    with EvaluationPool(cfg.model_copy(update={"executor": "process"})) as pool:
        local = pool.evaluate_many(specs, window, trials=[1, 3, 5])
    assert executor.counts == {"cluster": 3, "local": 0}
    assert [e.model_dump_json() for e in remote] == [e.model_dump_json() for e in local]


async def test_a_worker_without_the_project_falls_back_alerts_once_and_recovers(
        envs, cluster, window, tmp_path, caplog) -> None:
    address = cluster.start_scheduler(envs["full"])
    bad = cluster.start_worker(envs["bare"], "bare")
    ctx = _context(tmp_path, window, "dask://" + address.removeprefix("tcp://"))
    alerts = ctx.bus.subscribe("test", _noop, kinds=("alert",))
    cycle = _cycle(ctx)
    try:
        with caplog.at_level(logging.INFO, logger="ai_brain.evaluation.dask_executor"):
            written = await cycle.cycle_once()
        pool: DaskExecutor = cycle.pool
        errors = [r for r in caplog.records
                  if r.levelno >= logging.ERROR and r.name == "ai_brain.evaluation.dask_executor"]
        assert written, "the local pool must take over and strategies still be filed"
        assert pool.counts["cluster"] == 0
        assert pool.counts["local"] > 0
        assert len(errors) == 1
        assert errors[0].exc_info is None
        line = errors[0].getMessage()
        assert line.startswith("dask: unavailable, using local pool (worker ")
        assert "No module named 'ai_brain'" in line
        assert ctx.status.snapshot()["evaluator"]["state"] == line
        dask_alerts = [a for a in _drain(alerts) if a.key == ALERT_KEY]
        assert [a.level for a in dask_alerts] == ["action"]
        assert "cannot import" in dask_alerts[0].text

        cluster.stop_worker(bad)
        cluster.start_worker(envs["full"], "good")
        assert pool.probe(), pool.reason  # what the component's re-probe does every dask_retry_s
        again = await cycle.cycle_once()
        status = ctx.status.snapshot()
    finally:
        await cycle.close()
    assert again
    assert pool.counts["cluster"] > 0
    assert status["evaluator"]["state"] == f"dask: {address}, 1 worker(s)"
    assert ctx.status.snapshot()["evaluator"]["state"] == "dask: closed"
    assert [a.level for a in _drain(alerts) if a.key == ALERT_KEY] == ["info"]


def test_a_scheduler_without_the_project_is_named(envs, cluster) -> None:
    address = cluster.start_scheduler(envs["bare"])
    cluster.start_worker(envs["full"], "w1")
    cfg = parse({"evaluator": {**_LIGHT, "dask_probe_timeout_s": 60}}).evaluator
    result = probe_cluster(address, cfg)
    assert not result.ok
    assert result.client is None
    assert result.reason.startswith(f"scheduler {address} cannot import ai_brain")


def test_a_missing_scheduler_is_one_line(cluster) -> None:
    cfg = parse({"evaluator": {"dask_probe_timeout_s": 2}}).evaluator
    result = probe_cluster("tcp://127.0.0.1:9", cfg)  # port 9 (discard): nothing listens on loopback
    assert not result.ok
    assert "\n" not in result.reason
    assert result.reason.startswith("scheduler tcp://127.0.0.1:9 unreachable")


def test_repeated_batches_on_the_same_candles_never_lose_their_data(envs, cluster) -> None:
    """A genetic search sends many batches on one cycle's candles; a re-scatter of identical data under
    the same content-hash key races with the release of the previous batch's copy ("lost dependencies")."""
    address = cluster.start_scheduler(envs["full"])
    cluster.start_worker(envs["full"], "w1")
    cluster.start_worker(envs["full"], "w2")
    cfg = probe_config(EvaluatorConfig(workers=1))
    result = probe_cluster(address, cfg)
    assert result.ok, result.reason
    with EvaluationPool(cfg, client=result.client, own_client=True) as pool:
        failures = []
        for _ in range(40):
            try:
                pool.evaluate_many([known_spec()], known_candles())
            except Exception as exc:
                failures.append(repr(exc))
    assert failures == []
