"""Builders for the LLM tests: a point-in-time context from real candles and proposal payloads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ai_brain.generators.hypothesis_generator import GenerationContext
from ai_brain.generators.llm import LLMSource, snapshot
from ai_brain.learning.regimes import classify
from ai_brain.llm.client import LLMGateway, make_provider
from ai_brain.llm.governance import CircuitBreaker, ResponseCache, TokenBudget
from src.config import Secrets
from src.config.brain import LLMConfig
from src.core.events import Alert
from src.core.timeframes import parse_iso_ms
from src.strategy.data import Candles
from tests.fakes.fake_time import FakeTime

DECISION = "2024-06-01T00:00:00Z"


def context(btc: Candles, decision: str = DECISION) -> GenerationContext:
    ts = parse_iso_ms(decision)
    end = int(np.searchsorted(btc.ts, ts, side="left"))
    c = btc.slice(end - 1500, end)
    return GenerationContext(decision_ts_ms=ts, timeframe="1h", candles={"BTC/USDT": c},
                             regimes={"BTC/USDT": classify(c, "BTC/USDT")}, cycle=0, seed=7)


def proposal(ctx: GenerationContext, **over: Any) -> dict[str, Any]:
    """A well-formed proposal that cites the snapshot correctly."""
    figs = snapshot(ctx)
    last = figs["BTC/USDT last_close"]
    body: dict[str, Any] = {
        "name": "EMA trend with ADX", "type": "momentum", "symbol": "BTC/USDT",
        "reasoning": f"BTC/USDT closed at {last}; ATR is {figs['BTC/USDT atr_pct']}% of price, so a 2.5 ATR stop "
                     "fits. A 20/80 EMA cross with ADX above 20 rides trends.",
        "cited_figures": [{"name": "BTC/USDT last_close", "value": last},
                          {"name": "BTC/USDT atr_pct", "value": figs["BTC/USDT atr_pct"]}],
        "rules": {"entry_long": [
            {"left": {"name": "ema", "period": 20}, "op": "crosses_above", "right": {"name": "ema", "period": 80}},
            {"left": {"name": "adx", "period": 14}, "op": ">", "threshold": 20}],
            "exit_long": [{"left": {"name": "ema", "period": 20}, "op": "crosses_below",
                           "right": {"name": "ema", "period": 80}}]},
        "risk": {"stop_atr": 2.5, "take_profit_atr": 6.0},
    }
    body.update(over)
    return body


def gateway(folder: Path, base_url: str, *, alerts: list[Alert] | None = None, clock: FakeTime | None = None,
            secrets: Secrets | None = None, **cfg: Any) -> tuple[LLMGateway, LLMConfig]:
    """A gateway as the wiring builds it; ``clock`` (a :class:`FakeTime`) stands in for sleep and
    monotonic time, ``alerts`` collects what would go to the bus."""
    conf = LLMConfig(base_url=base_url, **{"timeout_s": 2.0, "retries": 0, "proposals_per_cycle": 1,
                                           "crazy_share": 0.0, **cfg})
    q = folder / "quarantine"
    clock = clock or FakeTime()
    budget = TokenBudget(folder / "budget.json", q, conf.daily_token_budget, conf.daily_cost_budget_usd,
                         conf.usd_per_million_input_tokens, conf.usd_per_million_output_tokens)
    provider = make_provider(conf, secrets or Secrets(gemini_api_key="test-key"))
    assert not isinstance(provider, str), provider
    sink: list[Alert] = alerts if alerts is not None else []
    gw = LLMGateway(conf, provider, ResponseCache(folder / "cache", q), budget,
                    CircuitBreaker(conf.breaker_failures, conf.breaker_cooldown_s, clock), sink.append,
                    sleep=clock.sleep, monotonic=clock)
    return gw, conf


def source(folder: Path, base_url: str, **cfg: Any) -> LLMSource:
    gw, conf = gateway(folder, base_url, **cfg)
    return LLMSource(gw, conf)
