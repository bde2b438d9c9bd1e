"""Gemini as the real service behaves: thinking out of the output cap, MAX_TOKENS, 429 with a retry
delay, 404 for the model, and schema refusal — the real google-genai client against the fake."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ai_brain.generators.llm import LLMProposal, LLMSource
from ai_brain.intelligence.sentiment_analyzer import SentimentAnswer
from ai_brain.llm.schema import MAX_SCHEMA_BYTES, TIERS, json_schema_for, schema_bytes
from src.core.events import Alert
from tests.brain.llm_builders import context, gateway, proposal
from tests.fakes.fake_gemini import SCHEMA_LIMIT_BYTES, FakeGemini, Reply, rate_limited
from tests.fakes.fake_time import FakeTime


@pytest.fixture
async def fake() -> AsyncIterator[FakeGemini]:
    server = FakeGemini()
    await server.start()
    yield server
    await server.close()


def _source(folder: Path, fake: FakeGemini, **cfg) -> LLMSource:
    gw, conf = gateway(folder, fake.base_url, **cfg)
    return LLMSource(gw, conf)


async def test_the_thinking_budget_is_sent_and_leaves_room_for_the_answer(tmp_path, fake: FakeGemini,
                                                                          btc_1h) -> None:
    ctx = context(btc_1h)
    src = _source(tmp_path, fake, max_output_tokens=4096, thinking_budget=1024)
    fake.queue(Reply(text=json.dumps(proposal(ctx)), output_tokens=600, thinking_tokens=5000))
    try:
        hyps = await src.propose(ctx)
    finally:
        await src.gateway.close()

    gen = fake.requests[0].body["generationConfig"]
    assert gen["thinkingConfig"] == {"thinking_budget": 1024}
    assert gen["maxOutputTokens"] == 4096
    assert len(hyps) == 1, src.last_rejections


async def test_thinking_that_spends_the_cap_is_reported_as_max_tokens(tmp_path, fake: FakeGemini, btc_1h) -> None:
    ctx = context(btc_1h)
    src = _source(tmp_path, fake, max_output_tokens=4096, thinking_budget=None)  # dynamic thinking
    fake.queue(Reply(text=json.dumps(proposal(ctx)), output_tokens=600, thinking_tokens=5000))
    try:
        hyps = await src.propose(ctx)
    finally:
        await src.gateway.close()

    assert hyps == []
    assert src.rejected == {"max_tokens": 1}
    reason = src.last_rejections[-1]
    assert "llm.max_output_tokens=4096" in reason
    assert "4096 thinking" in reason
    assert "empty" not in reason
    assert "thinkingConfig" not in fake.requests[0].body["generationConfig"]
    assert not list((tmp_path / "cache").glob("*.json")), "a cut-off answer is not an answer to replay"


async def test_thinking_tokens_are_charged_to_the_budget(tmp_path, fake: FakeGemini, btc_1h) -> None:
    ctx = context(btc_1h)
    src = _source(tmp_path, fake, max_output_tokens=8192, thinking_budget=4000)
    fake.queue(Reply(text=json.dumps(proposal(ctx)), prompt_tokens=900, output_tokens=15, thinking_tokens=3000))
    try:
        await src.propose(ctx)
    finally:
        await src.gateway.close()

    budget = src.gateway.budget.describe()
    cfg = src.cfg
    assert budget["tokens"] == 900 + 15 + 3000
    assert budget["thinking_tokens"] == 3000
    expected_cost = 900 * cfg.usd_per_million_input_tokens / 1e6 + 3015 * cfg.usd_per_million_output_tokens / 1e6
    assert budget["cost_usd"] == pytest.approx(expected_cost)


async def test_a_429_retry_delay_is_waited_out_before_the_next_attempt(tmp_path, fake: FakeGemini, btc_1h) -> None:
    ctx = context(btc_1h)
    clock = FakeTime()
    src = _source(tmp_path, fake, clock=clock, retries=2, retry_initial_s=0.5, retry_max_s=20.0)
    fake.queue(rate_limited(7), Reply(text=json.dumps(proposal(ctx))))
    try:
        hyps = await src.propose(ctx)
    finally:
        await src.gateway.close()

    assert len(hyps) == 1
    assert fake.generate_calls == 2
    assert clock.sleeps == [7.0], "the server's delay, not the 0.5 s backoff"


async def test_a_retry_delay_longer_than_we_wait_holds_back_later_calls(tmp_path, fake: FakeGemini,
                                                                        btc_1h) -> None:
    clock = FakeTime()
    src = _source(tmp_path, fake, clock=clock, retries=2, retry_max_s=20.0)
    fake.queue(rate_limited(120))
    try:
        first = await src.propose(context(btc_1h))
        clock.now += 119
        second = await src.propose(context(btc_1h, "2024-06-02T00:00:00Z"))
        calls_while_held = fake.generate_calls
        clock.now += 1
        fake.queue_json(proposal(context(btc_1h, "2024-06-03T00:00:00Z")))
        third = await src.propose(context(btc_1h, "2024-06-03T00:00:00Z"))
    finally:
        await src.gateway.close()

    assert first == []
    assert second == []
    assert len(third) == 1
    assert calls_while_held == 1
    assert clock.sleeps == []
    assert src.rejected == {"rate_limited": 2}
    assert src.gateway.breaker.state == "closed"


async def test_an_unknown_model_raises_one_action_alert_naming_the_setting(tmp_path, fake: FakeGemini,
                                                                           btc_1h) -> None:
    alerts: list[Alert] = []
    src = _source(tmp_path, fake, alerts=alerts, model="gemini-9.9-ultra")
    try:
        await src.propose(context(btc_1h))
        await src.propose(context(btc_1h, "2024-06-02T00:00:00Z"))
    finally:
        await src.gateway.close()

    assert fake.generate_calls == 1, "no call after the model is known to be missing"
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.level == "action"
    assert "gemini-9.9-ultra" in alert.title
    assert "llm.model" in alert.text
    assert src.rejected == {"model_not_found": 2}
    assert src.gateway.breaker.failures == 0


def test_every_response_schema_is_within_the_documented_limit() -> None:
    for model in (LLMProposal, SentimentAnswer):
        size = schema_bytes(json_schema_for(model))
        assert 0 < size <= MAX_SCHEMA_BYTES, f"{model.__name__}: {size} bytes"
    assert MAX_SCHEMA_BYTES < SCHEMA_LIMIT_BYTES
    sizes = [schema_bytes(json_schema_for(LLMProposal, tier)) for tier in TIERS]
    assert sizes == sorted(sizes, reverse=True)
    assert sizes[-1] == 0


async def test_a_refused_schema_steps_down_a_tier_and_stays_there(tmp_path, fake: FakeGemini, btc_1h) -> None:
    full = schema_bytes(json_schema_for(LLMProposal))
    fake.schema_limit_bytes = full - 1
    src = _source(tmp_path, fake)
    fake.queue_json(proposal(context(btc_1h)))
    fake.queue_json(proposal(context(btc_1h, "2024-06-02T00:00:00Z")))
    try:
        first = await src.propose(context(btc_1h))
        second = await src.propose(context(btc_1h, "2024-06-02T00:00:00Z"))
    finally:
        await src.gateway.close()

    assert len(first) == 1
    assert len(second) == 1
    sent = [schema_bytes(r.schema) for r in fake.requests]
    lean = schema_bytes(json_schema_for(LLMProposal, "lean"))
    assert sent == [full, lean, lean]
    assert src.gateway.describe()["schema_tiers"] == {"LLMProposal": "lean"}


async def test_when_every_schema_is_refused_json_mode_still_works(tmp_path, fake: FakeGemini, btc_1h) -> None:
    fake.schema_limit_bytes = 0
    src = _source(tmp_path, fake)
    fake.queue_json(proposal(context(btc_1h)))
    try:
        hyps = await src.propose(context(btc_1h))
    finally:
        await src.gateway.close()

    assert len(hyps) == 1
    assert fake.generate_calls == 3
    last = fake.requests[-1].body["generationConfig"]
    assert last["responseMimeType"] == "application/json"
    assert fake.requests[-1].schema is None
