"""Composition root, AI brain: builds the brain's parts and registers them with the supervisor.

Always: the strategy repository, the lifecycle and the strategy commands
(:func:`build_strategy_book`), because people and the runner need them even with discovery switched
off. With
``brain.enabled``: the learning engine, the hypothesis sources (templates and genetic search
always; the LLM only with ``llm.enabled`` and a provider: a ``GEMINI_API_KEY``, or
``llm.provider: openai_compatible``) and the cycle component.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, replace
from functools import partial

from ai_brain.discovery.brain_cycle import BrainCycle, BrainInputs
from ai_brain.discovery.learning_engine import LearningEngine
from ai_brain.discovery.lifecycle import Lifecycle, transition_problem
from ai_brain.discovery.strategy_commands import StrategyCommands
from ai_brain.discovery.strategy_store import StrategyStore
from ai_brain.evaluation.dask_executor import DaskExecutor, build_executor
from ai_brain.evaluation.evaluation_pool import EvaluationPool
from ai_brain.evaluation.trial_ledger import TrialLedger, open_trial_ledger
from ai_brain.generators.dedup import Deduplicator
from ai_brain.generators.edges import EdgeSource
from ai_brain.generators.evolutionary import EvolutionarySource
from ai_brain.generators.hypothesis_generator import GenerationContext, HypothesisGenerator, Source
from ai_brain.generators.llm import LLMSource
from ai_brain.generators.templates import TemplateSource
from ai_brain.intelligence.intel import IntelComponent
from ai_brain.intelligence.news_fetcher import NewsFetcher
from ai_brain.intelligence.onchain_monitor import OnchainMonitor
from ai_brain.intelligence.sentiment_analyzer import SentimentAnalyzer
from ai_brain.llm.client import LLMGateway, make_provider
from ai_brain.llm.governance import CircuitBreaker, ResponseCache, TokenBudget
from ai_brain.llm.llm_analyzer import MarketAnalyst
from src.app.supervisor import Supervisor
from src.core.timeframes import timeframe_ms
from src.runtime.context import AppContext
from src.state.inbox import CommandRegistry
from src.strategy.spec import StrategySpec

log = logging.getLogger(__name__)


def build_store(ctx: AppContext) -> StrategyStore:
    return StrategyStore(ctx.paths.strategies, ctx.paths.state / "quarantine", ctx.clock.now_ms,
                         ctx.bus.publish, allowed=transition_problem)


def load_trials(ctx: AppContext) -> TrialLedger:
    """The trial ledger; a damaged one is rebuilt from state/evaluations and strategies, with an alert."""
    return open_trial_ledger(ctx.paths.state, ctx.paths.strategies, ctx.bus.publish, ctx.clock.now_ms)


def build_gateway(ctx: AppContext) -> LLMGateway | None:
    cfg = ctx.config.llm
    provider = make_provider(cfg, ctx.secrets)
    if isinstance(provider, str):
        log.info("LLM generator off (%s); offline generators only", provider)
        return None
    q = ctx.paths.state / "quarantine"
    budget = TokenBudget(ctx.paths.state / "llm_budget.json", q, cfg.daily_token_budget, cfg.daily_cost_budget_usd,
                         cfg.usd_per_million_input_tokens, cfg.usd_per_million_output_tokens)
    return LLMGateway(cfg, provider, ResponseCache(ctx.paths.state / cfg.cache_dir, q), budget,
                      CircuitBreaker(cfg.breaker_failures, cfg.breaker_cooldown_s), ctx.bus.publish)


def _seeds_for(store: StrategyStore, limit: int, symbol: str) -> list[StrategySpec]:
    """The best strategies on file for ``symbol`` seed the next genetic search."""
    alive = [r for r in store.list() if r.status not in ("rejected", "retired") and r.spec.symbols[0] == symbol]
    alive.sort(key=lambda r: -(r.verdict.score if r.verdict else -1e9))
    return [r.spec for r in alive[:limit]]


async def _close_in_background(pool: EvaluationPool | DaskExecutor) -> None:
    """Terminate busy workers at once (a fraction of a second): their futures fail, so the thread
    awaiting them ends and the process exits promptly instead of waiting for an evaluation."""
    pool.terminate()


@dataclass(frozen=True)
class BrainParts:
    """The discovery side, when ``brain.enabled``."""

    cycle: BrainCycle
    learning: LearningEngine
    analyst: MarketAnalyst
    intel: IntelComponent | None


def build_cycle(ctx: AppContext, store: StrategyStore, lifecycle: Lifecycle, supervisor: Supervisor,
                inputs: BrainInputs) -> BrainParts:
    cfg = ctx.config.brain
    learning = LearningEngine(cfg.learning, ctx.paths.state / "learning", ctx.paths.state / "quarantine")
    dedup = Deduplicator(cfg.generators.dedup_param_tolerance)
    for rec in store.list():
        dedup.add(rec.spec)
    pool = build_executor(ctx.config.evaluator, ctx.bus.publish, ctx.clock.now_ms) if cfg.use_pool else None
    if isinstance(pool, DaskExecutor):  # start-up probe, re-probes, fallback state on /status
        ctx.status.register(pool.name, pool.describe)
        supervisor.add(pool)
    templates = TemplateSource(cfg.generators.templates_per_cycle, cfg.generators.seed)
    gateway = build_gateway(ctx)
    intel = build_intel(ctx, gateway)
    cycle = BrainCycle(ctx, store, lifecycle, HypothesisGenerator([], dedup), learning, load_trials(ctx),
                       replace(inputs, intel=intel), pool)
    ctx.status.register(cycle.name, cycle.describe)
    supervisor.on_shutdown("brain", cycle.close)
    if pool is not None:
        cycle.on_close(partial(_close_in_background, pool))
    holder: dict[str, GenerationContext] = {}

    def make_seed(rng: random.Random, symbol: str) -> StrategySpec | None:
        gen_ctx = holder.get("ctx") or GenerationContext(0, ctx.config.replay.timeframe, {})
        hyp = templates.draw(rng, gen_ctx, symbol)
        return hyp.spec if hyp else None

    evo = EvolutionarySource(cfg.generators, lambda sym: partial(cycle.fitness, sym), make_seed,
                             partial(_seeds_for, store, cfg.generators.ga_population // 2))
    sources: list[Source] = [templates, EdgeSource(cfg.generators.edges_per_cycle, cfg.generators.seed), evo]
    analyst = MarketAnalyst(gateway if cfg.intel.analyzer_enabled else None)
    if intel is not None:
        supervisor.add(intel)
    if gateway is not None:
        llm = LLMSource(gateway, ctx.config.llm)
        sources.append(llm)
        ctx.status.register("llm", llm.describe)
        cycle.on_close(gateway.close)
    cycle.generator = HypothesisGenerator(sources, dedup, timeout_s=max(120.0, ctx.config.llm.timeout_s * 4))
    cycle.context_hook = lambda gen_ctx: holder.__setitem__("ctx", gen_ctx)
    return BrainParts(cycle, learning, analyst, intel)


def build_intel(ctx: AppContext, gateway: LLMGateway | None) -> IntelComponent | None:
    """The optional news / sentiment / on-chain component, or None when every part is off."""
    icfg = ctx.config.brain.intel
    q = ctx.paths.state / "quarantine"
    news = (NewsFetcher(icfg.news_sources, ctx.paths.state / "news_cache.json", q, icfg.news_timeout_s,
                        icfg.news_max_items) if icfg.news_enabled and icfg.news_sources else None)
    onchain = (OnchainMonitor(icfg.onchain_url, icfg.onchain_min_value_usd, ctx.bus.publish, ctx.clock.now_ms)
               if icfg.onchain_enabled and icfg.onchain_url else None)
    if news is None and onchain is None:
        return None
    return IntelComponent(ctx, news, SentimentAnalyzer(gateway if icfg.sentiment_use_llm else None), onchain)


def build_strategy_book(ctx: AppContext, registry: CommandRegistry) -> tuple[StrategyStore, Lifecycle]:
    """The strategy repository and its lifecycle, with the strategy commands (every mode, brain or not)."""
    store = build_store(ctx)
    lifecycle = Lifecycle(store, ctx.config.brain.lifecycle, ctx.config.mode, ctx.bus.publish, ctx.clock.now_ms,
                          timeframe_ms(ctx.config.replay.timeframe))
    StrategyCommands(store, ctx.bus.publish).register(registry)
    if store.duplicates_resolved:
        log.warning("strategy files: %d stale copies from an interrupted move were removed", store.duplicates_resolved)
    return store, lifecycle


def add_brain_components(ctx: AppContext, supervisor: Supervisor, store: StrategyStore, lifecycle: Lifecycle,
                         inputs: BrainInputs) -> BrainParts | None:
    """Start the AI cycle when ``brain.enabled``."""
    if not ctx.config.brain.enabled:
        return None
    parts = build_cycle(ctx, store, lifecycle, supervisor, inputs)
    supervisor.add(parts.cycle)
    return parts
