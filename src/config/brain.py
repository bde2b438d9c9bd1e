"""AI-brain settings: the discovery cycle, generators, LLM governance, learning, lifecycle rules.

Every section is frozen and rejects unknown keys. Defaults are the safe ones: a bot with no
Gemini key still discovers through the offline generators, the LLM has a small daily budget,
and nothing in here can move money by itself (live trading needs the double gate elsewhere).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Gemini 2.5 models spend thinking tokens out of ``max_output_tokens``; keep this many for the answer.
MIN_ANSWER_TOKENS = 1024


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LLMConfig(_Section):
    """LLM access (Gemini, or any OpenAI-compatible server) and its governance; keys come only from the
    environment (``GEMINI_API_KEY``; ``LLM_API_KEY`` for an OpenAI-compatible server that wants one)."""

    enabled: bool = True
    provider: Literal["gemini", "openai_compatible"] = Field(
        "gemini", description="gemini (google-genai) or openai_compatible (/v1/chat/completions: Ollama, "
        "llama.cpp server, vLLM, OpenAI)")
    model: str = Field("gemini-2.5-flash", min_length=1, max_length=200)
    base_url: str | None = Field(None, description="gemini: override the API host (a proxy or a loopback fake); "
                                 "openai_compatible: required, up to and including /v1, e.g. "
                                 "http://127.0.0.1:11434/v1")
    thinking_budget: int | None = Field(
        1024, ge=0, le=32_768, description="Gemini thinking tokens per call (they count toward max_output_tokens; "
        "0 = off where the model allows it); None = the model's own dynamic thinking")
    api_version: str | None = Field("v1beta", description="API version path segment (v1beta carries every "
                                    "structured-output option); None = the SDK default")
    timeout_s: float = Field(45.0, gt=0, le=600, description="per-call timeout")
    retries: int = Field(2, ge=0, le=10, description="extra attempts on transient errors only (5xx, 429, network)")
    retry_initial_s: float = Field(1.0, gt=0, le=60)
    retry_max_s: float = Field(20.0, gt=0, le=600)
    breaker_failures: int = Field(3, ge=1, le=100, description="consecutive failures that open the breaker")
    breaker_cooldown_s: float = Field(900.0, gt=0, description="how long an open breaker refuses calls")
    daily_token_budget: int = Field(300_000, ge=0, description="prompt + answer tokens per UTC day; 0 = no calls")
    daily_cost_budget_usd: float = Field(1.0, ge=0)
    usd_per_million_input_tokens: float = Field(0.30, ge=0)
    usd_per_million_output_tokens: float = Field(2.50, ge=0)
    max_output_tokens: int = Field(4096, ge=256, le=65_536)
    temperature: float = Field(0.4, ge=0, le=2)
    crazy_share: float = Field(0.2, ge=0, le=1, description="share of proposals asked as 'crazy ideas'")
    crazy_temperature: float = Field(1.1, ge=0, le=2)
    proposals_per_cycle: int = Field(2, ge=0, le=20)
    cache_dir: str = Field("llm_cache", description="prompt/response audit cache, under state/")
    hallucination_tolerance: float = Field(0.03, gt=0, le=0.5, description="relative error allowed on cited figures")
    min_stop_pct: float = Field(0.2, gt=0, le=50, description="smallest sane stop distance, % of price")
    max_stop_pct: float = Field(25.0, gt=0, le=90)
    max_take_profit_pct: float = Field(60.0, gt=0, le=500)

    @model_validator(mode="after")
    def _check(self) -> LLMConfig:
        if self.retry_max_s < self.retry_initial_s:
            raise ValueError("llm.retry_max_s must be >= retry_initial_s")
        if self.max_stop_pct <= self.min_stop_pct:
            raise ValueError("llm.max_stop_pct must exceed min_stop_pct")
        _check_thinking(self)
        _check_endpoint(self)
        return self


def _check_thinking(cfg: LLMConfig) -> None:
    """Thinking is paid out of ``max_output_tokens``: a budget that leaves no room gives empty answers."""
    if cfg.thinking_budget is not None and cfg.max_output_tokens - cfg.thinking_budget < MIN_ANSWER_TOKENS:
        raise ValueError(f"llm.thinking_budget ({cfg.thinking_budget}) must leave at least {MIN_ANSWER_TOKENS} "
                         f"of llm.max_output_tokens ({cfg.max_output_tokens}) for the answer")


def _check_endpoint(cfg: LLMConfig) -> None:
    if cfg.base_url is not None and not cfg.base_url.startswith(("http://", "https://")):
        raise ValueError(f"llm.base_url must start with http:// or https://, got {cfg.base_url!r}")
    if cfg.provider == "openai_compatible" and not cfg.base_url:
        raise ValueError("llm.base_url is required when llm.provider is openai_compatible "
                         "(e.g. http://127.0.0.1:11434/v1 for Ollama)")


class GeneratorConfig(_Section):
    """Offline generators: random search over built-in families and the genetic search."""

    templates_per_cycle: int = Field(48, ge=0, le=10_000)
    edges_per_cycle: int = Field(24, ge=0, le=10_000, description=(
        "candidates from the documented-edge source: carry, multi-timeframe trend with volatility "
        "targeting, cross-asset relative strength, regime-conditional families"))
    ga_population: int = Field(16, ge=4, le=2_000)
    ga_generations: int = Field(3, ge=0, le=500)
    ga_elite: int = Field(2, ge=0, le=100)
    ga_tournament: int = Field(3, ge=2, le=50)
    ga_mutation_rate: float = Field(0.35, ge=0, le=1)
    ga_crossover_rate: float = Field(0.6, ge=0, le=1)
    seed: int = Field(7, ge=0)
    dedup_param_tolerance: float = Field(0.1, ge=0, le=1, description="relative parameter distance = duplicate")
    dedup_max_trade_overlap: float = Field(0.8, ge=0, le=1, description="share of shared entries (Jaccard) above "
                                           "which two candidates are one strategy, whatever their labels")

    @model_validator(mode="after")
    def _check(self) -> GeneratorConfig:
        if self.ga_elite >= self.ga_population:
            raise ValueError("brain.generators.ga_elite must be smaller than ga_population")
        return self


class LearningConfig(_Section):
    """Regimes, the pattern database and the prioritized replay buffer."""

    regime_lookback_bars: int = Field(240, ge=50, le=20_000)
    regime_vol_window: int = Field(24, ge=5, le=2_000)
    pattern_k: int = Field(15, ge=1, le=1_000)
    pattern_capacity: int = Field(50_000, ge=100)
    replay_capacity: int = Field(10_000, ge=10, le=1_000_000)
    replay_alpha: float = Field(0.6, ge=0, le=1, description="how strongly priorities shape sampling")
    replay_beta: float = Field(0.4, ge=0, le=1, description="importance-weight correction")


class LifecycleConfig(_Section):
    """Promotion, scaling and retirement rules (market time, so replay runs them fast)."""

    keep_per_cycle: int = Field(3, ge=1, le=100, description="most new strategies filed per cycle (those worth a "
                                "dry run; else only the best failure)")
    max_dry_run: int = Field(8, ge=1, le=200, description="strategies dry-running at once")
    dry_run_min_score: float = Field(0.0, description="evaluator ranking score needed to start a dry run")
    dry_run_min_oos_trades: int = Field(5, ge=0)
    replay_demo_approvals: bool = Field(
        False, description="replay only: dry-run and ask approval for strategies that failed gates, every "
        "message marked DEMO — not proven (nothing else is ever put up for approval)")
    min_dry_run_hours: float = Field(14 * 24.0, ge=0, description="market hours of dry run before approval")
    min_dry_run_trades: int = Field(10, ge=0, description="dry-run round trips before approval")
    band_z: float = Field(2.0, gt=0, le=10, description="width of the backtest confidence band in std errors")
    min_live_trades_to_scale: int = Field(10, ge=1)
    initial_live_fraction: float = Field(0.1, gt=0, le=1)
    scale_step: float = Field(2.0, gt=1, le=10)
    max_live_fraction: float = Field(1.0, gt=0, le=1)
    regime_gone_hours: float = Field(14 * 24.0, gt=0, description="retire when the build regime is absent this long")
    drift_price_tolerance: float = Field(0.005, ge=0, le=1, description="relative price gap tolerated per fill")
    drift_max_mismatched_fraction: float = Field(0.2, ge=0, le=1)
    drift_min_trades: int = Field(3, ge=1, description="judge drift only once this many trades exist on either side")
    review_every_s: float = Field(3.0, gt=0, le=3_600, description="wall seconds between lifecycle reviews")


REMOVED_KEYS: dict[str, str] = {
    "brain.lifecycle.approval_requires_evaluator_pass":
        "approval always requires every evaluator gate to pass now; delete the key (a replay demo: "
        "brain.lifecycle.replay_demo_approvals: true)",
    "brain.lifecycle.replay_approval_requires_evaluator_pass":
        "only strategies that passed every gate are put up for approval; delete the key, or for a replay "
        "demo set brain.lifecycle.replay_demo_approvals: true",
}
"""Keys an older config.yaml may still carry, with what replaced them (named at start-up)."""


class IntelConfig(_Section):
    """Optional enrichment: news, sentiment, commentary, on-chain. Each fails soft and can be off."""

    news_enabled: bool = False
    news_sources: tuple[str, ...] = ()
    news_refresh_minutes: float = Field(30.0, gt=0)
    news_timeout_s: float = Field(10.0, gt=0, le=120)
    news_max_items: int = Field(50, ge=1, le=1_000)
    sentiment_use_llm: bool = False
    analyzer_enabled: bool = False
    onchain_enabled: bool = False
    onchain_url: str | None = None
    onchain_min_value_usd: float = Field(10_000_000.0, gt=0)


class BrainConfig(_Section):
    """The discovery cycle and its parts."""

    enabled: bool = True
    cycle_minutes: float = Field(60.0, gt=0, description="wall minutes between discovery cycles ...")
    cycle_market_hours: float = Field(24.0, gt=0, description="... or this much market time, whichever is first")
    min_cycle_gap_s: float = Field(30.0, ge=0, description="never start cycles closer than this (fast replays)")
    first_cycle_delay_s: float = Field(0.0, ge=0, description="wait after warm-up before the first cycle")
    min_history_bars: int = Field(300, ge=100, description="bars a symbol needs before it is searched")
    history_bars: int = Field(52_600, ge=100, le=200_000, description="bars per symbol handed to the evaluator "
                              "(52,600 1h bars = 6 years: the test segment then spans about 1.8 years)")
    symbols: tuple[str, ...] = Field((), description="symbols to search; empty = every symbol in the market cache")
    use_pool: bool = Field(True, description="evaluate in the evaluator's process pool (off: in a thread)")
    generators: GeneratorConfig = GeneratorConfig()
    learning: LearningConfig = LearningConfig()
    lifecycle: LifecycleConfig = LifecycleConfig()
    intel: IntelConfig = IntelConfig()
