"""One AI cycle end to end in process: real candles in the cache, a broken LLM, offline sources still file."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from ai_brain.discovery.brain_cycle import BrainInputs
from ai_brain.discovery.lifecycle import Lifecycle
from src.app.supervisor import Supervisor
from src.app.wire_brain import build_cycle, build_store, build_strategy_book
from src.config import Secrets
from src.config import parse_config as parse
from src.core.bus import EventBus
from src.core.events import Alert
from src.market.cache import MarketCache
from src.runtime.context import Paths
from src.state.inbox import CommandRegistry
from src.state.store import StateStore
from tests.brain.conftest import FakeClock
from tests.brain.llm_builders import proposal
from tests.fakes.fake_gemini import FakeGemini, Reply
from tests.fakes.fake_openai import FakeOpenAI
from tests.rig import RigContext


def _context(root: Path, btc_1h, llm: dict, key: str = "k") -> RigContext:
    cfg = parse({"llm": llm, "brain": {"use_pool": False, "generators": {
        "templates_per_cycle": 8, "ga_population": 6, "ga_generations": 1},
        "lifecycle": {"keep_per_cycle": 4}}})
    window = btc_1h.slice(len(btc_1h) - 2500, len(btc_1h))
    paths = Paths(root)
    paths.ensure()
    ctx = RigContext(config=cfg, secrets=Secrets(gemini_api_key=key), paths=paths, bus=EventBus(),
                     store=StateStore(paths.state), clock=FakeClock(int(window.ts[-1]) + 3_600_000))  # type: ignore
    cache = MarketCache("1h")
    for i in range(len(window)):
        cache.series("BTC/USDT").append(int(window.ts[i]), window.open[i], window.high[i], window.low[i],
                                        window.close[i], window.volume[i])
    ctx.services.update(market_cache=cache, commands=CommandRegistry())
    return ctx


def _inputs(ctx: RigContext) -> BrainInputs:
    return BrainInputs(ctx.services["market_cache"], ledger=ctx.services.get("ledger"))


async def test_a_cycle_with_a_hanging_llm_still_files_offline_discoveries(tmp_path, btc_1h) -> None:
    fake = FakeGemini()
    await fake.start()
    fake.default = Reply(text="{}", hang_s=10.0)
    ctx = _context(tmp_path, btc_1h, {"base_url": fake.base_url, "timeout_s": 0.5, "retries": 0,
                                      "proposals_per_cycle": 2})
    alerts = ctx.bus.subscribe("test", _noop, kinds=("alert",))
    supervisor = Supervisor(ctx)
    store = build_store(ctx)
    cycle = build_cycle(ctx, store, Lifecycle(store, ctx.config.brain.lifecycle, "replay", ctx.bus.publish,
                                              ctx.clock.now_ms, 3_600_000), supervisor, _inputs(ctx)).cycle
    try:
        written = await cycle.cycle_once()
    finally:
        await cycle.close()
        await fake.close()

    assert written, "offline sources must still produce strategies"
    assert fake.generate_calls == 2
    llm_stats = ctx.status.snapshot()["llm"]
    assert llm_stats["rejected"] == {"timeout": 2}
    files = list((tmp_path / "strategies").rglob("*.json"))
    assert len(files) == len(written)
    body = json.loads(files[0].read_text())
    assert body["performance"]["backtest"]["bars"] > 0
    assert body["performance"]["out_of_sample"]["trades"] >= 0
    assert body["source"]["generator"] in ("templates", "edges", "evolutionary")
    assert body["source"]["reasoning"]
    assert body["verdict"]["evaluation_id"] == body["provenance"]["evaluation_id"]
    assert (tmp_path / "state" / "evaluations" / f"{body['provenance']['evaluation_id']}.json").exists()
    kept = [r for r in written if r.status in ("dry_run", "backtested")]
    titles = [alerts.queue.get_nowait().title for _ in range(alerts.queue.qsize())]
    assert [f"Strategy discovered: {r.id}" for r in kept] == [t for t in titles if t.startswith("Strategy disc")]


async def test_an_llm_idea_goes_through_the_same_evaluator(tmp_path, btc_1h) -> None:
    fake = FakeGemini()
    await fake.start()
    ctx = _context(tmp_path, btc_1h, {"base_url": fake.base_url, "timeout_s": 5, "retries": 0,
                                      "proposals_per_cycle": 1, "crazy_share": 0.0})
    supervisor = Supervisor(ctx)
    store, lifecycle = build_strategy_book(ctx, ctx.services["commands"])
    cycle = build_cycle(ctx, store, lifecycle, supervisor, _inputs(ctx)).cycle
    cycle.generator.sources = [s for s in cycle.generator.sources if s.name == "llm"]
    gen_ctx = cycle._context()
    fake.queue_json(proposal(gen_ctx))
    try:
        written = await cycle.cycle_once()
    finally:
        await cycle.close()
        await fake.close()

    assert len(written) == 1
    rec = written[0]
    assert rec.source.generator == "llm"
    assert rec.source.prompt_hash
    assert "EMA cross" in rec.source.reasoning
    assert rec.verdict is not None
    assert rec.performance.out_of_sample is not None
    assert store.get(rec.id).status == rec.status


async def test_a_local_openai_compatible_model_files_strategies_with_no_gemini_key(tmp_path, btc_1h) -> None:
    fake = FakeOpenAI()
    await fake.start()
    model = next(iter(sorted(fake.models)))
    ctx = _context(tmp_path, btc_1h, {"provider": "openai_compatible", "base_url": f"{fake.base_url}/v1",
                                      "model": model, "timeout_s": 5, "retries": 0, "proposals_per_cycle": 1,
                                      "crazy_share": 0.0}, key="")
    supervisor = Supervisor(ctx)
    store, lifecycle = build_strategy_book(ctx, ctx.services["commands"])
    cycle = build_cycle(ctx, store, lifecycle, supervisor, _inputs(ctx)).cycle
    cycle.generator.sources = [s for s in cycle.generator.sources if s.name == "llm"]
    fake.queue_json(proposal(cycle._context()))
    try:
        written = await cycle.cycle_once()
    finally:
        await cycle.close()
        await fake.close()

    assert fake.chat_calls == 1
    assert len(written) == 1
    rec = written[0]
    assert rec.source.generator == "llm"
    assert rec.verdict is not None
    assert store.get(rec.id).status == rec.status
    assert ctx.status.snapshot()["llm"]["provider"] == "openai_compatible"


async def _noop(_event: Alert) -> None:
    return None


def _trade_line(ledger, sid: str, entry_ms: int, net: float) -> None:
    ledger.append(kind="trade", ts_ms=entry_ms + 7_200_000, strategy_id=sid, symbol="BTC/USDT", data={
        "side": "long", "entry_ms": entry_ms, "exit_ms": entry_ms + 7_200_000, "entry_price_quote": 100.0,
        "exit_price_quote": 101.0, "qty_base": 2.0, "net_quote": net, "fees_quote": 0.4})


async def test_closed_trades_come_from_the_ledger_once_across_restarts(tmp_path, btc_1h) -> None:
    from src.orders.ledger import Ledger
    from tests.brain.conftest import make_record

    ctx = _context(tmp_path, btc_1h, {"enabled": False})
    ledger = Ledger(tmp_path / "logs", fsync=False)
    ctx.services["ledger"] = ledger
    store = build_store(ctx)
    store.add(make_record("s1", status="dry_run"))
    entry_ms = int(btc_1h.ts[len(btc_1h) - 100])
    _trade_line(ledger, "s1", entry_ms, 1.6)
    _trade_line(ledger, "manual-x", entry_ms, 5.0)

    def fresh_cycle():
        life = Lifecycle(store, ctx.config.brain.lifecycle, "replay", ctx.bus.publish, ctx.clock.now_ms, 3_600_000)
        return build_cycle(ctx, store, life, Supervisor(ctx), _inputs(ctx)).cycle

    first = fresh_cycle()
    assert first.attach_ledger()
    _trade_line(ledger, "s1", entry_ms + 3_600_000 * 10, -0.5)  # written while running
    await asyncio.sleep(0)
    second = fresh_cycle()  # a restart: the backfill sees all three lines again
    second.attach_ledger()
    await first.close()
    await second.close()

    trades = store.get("s1").trades
    assert [round(t.ret, 4) for t in trades] == [0.008, -0.0025]
    assert trades[0].mode == "dry_run"
    assert len(second.learning.patterns) == 2
    assert second.learning.ledger_seq == 3


async def test_an_order_refused_by_a_guard_is_recorded_on_the_strategy(tmp_path, btc_1h) -> None:
    from src.core.events import OrderUpdate
    from tests.brain.conftest import make_record

    ctx = _context(tmp_path, btc_1h, {"enabled": False})
    store = build_store(ctx)
    store.add(make_record("s1", status="dry_run"))
    life = Lifecycle(store, ctx.config.brain.lifecycle, "paper", ctx.bus.publish, ctx.clock.now_ms, 3_600_000)
    cycle = build_cycle(ctx, store, life, Supervisor(ctx), _inputs(ctx)).cycle
    ts = int(btc_1h.ts[-5])
    await cycle.on_event(OrderUpdate("c1", "BTC/USDT", "buy", "rejected", 1.0, None, ts, "s1",
                                     "risk: max_position_per_symbol"))
    await cycle.on_event(OrderUpdate("c2", "BTC/USDT", "buy", "rejected", 1.0, None, ts + 1, "s1",
                                     "exchange: insufficient balance"))  # not a guard: not recorded
    await cycle.close()

    refused = store.get("s1").refused
    assert [(r.ts_ms, r.reason) for r in refused] == [(ts, "risk: max_position_per_symbol")]


async def test_generators_see_only_the_selection_segment_and_every_trial_counts_once(tmp_path, btc_1h) -> None:
    from ai_brain.evaluation import statistics as st

    ctx = _context(tmp_path, btc_1h, {"enabled": False})
    store = build_store(ctx)
    life = Lifecycle(store, ctx.config.brain.lifecycle, "paper", ctx.bus.publish, ctx.clock.now_ms, 3_600_000)
    cycle = build_cycle(ctx, store, life, Supervisor(ctx), _inputs(ctx)).cycle
    seen: list = []
    hook = cycle.context_hook
    cycle.context_hook = lambda gen_ctx: (seen.append(gen_ctx), hook(gen_ctx))
    try:
        await cycle.cycle_once()
        first, hashes = cycle.trials.count("BTC/USDT"), set(cycle._evaluated)
        await cycle.cycle_once()  # specs seen in the first cycle are not new trials
        hashes_2 = set(cycle._evaluated)
    finally:
        await cycle.close()

    full = len(cycle._candles["BTC/USDT"])
    cut = st.oos_split(full, ctx.config.evaluator.oos_fraction)[0][1]
    assert len(seen[0].candles["BTC/USDT"]) == cut < full
    assert first == len(hashes) > 0, "one trial per distinct spec evaluated"
    assert cycle.trials.count("BTC/USDT") == len(hashes | hashes_2)
    assert all(not ev.passed for ev in cycle.last_verdicts.values()), "2,500 bars are not enough evidence"
    assert not store.list("dry_run")
    assert not store.list("awaiting_approval")
