"""The real google-genai client against a loopback fake Gemini: good, bad and slow answers."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import pytest

from src.strategy.spec import StrategySpec
from tests.brain.llm_builders import DECISION, context, proposal, source
from tests.fakes.fake_gemini import FakeGemini, Reply


@pytest.fixture
async def fake() -> AsyncIterator[FakeGemini]:
    server = FakeGemini()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def llm(tmp_path, fake: FakeGemini):
    src = source(tmp_path, fake.base_url)
    yield src
    await src.gateway.close()


async def test_a_good_structured_answer_becomes_a_valid_spec(llm, fake: FakeGemini, btc_1h) -> None:
    ctx = context(btc_1h)
    fake.queue_json(proposal(ctx))

    hyps = await llm.propose(ctx)

    assert len(hyps) == 1
    h = hyps[0]
    assert isinstance(h.spec, StrategySpec)
    assert h.spec.symbols == ["BTC/USDT"]
    assert h.spec.risk.stop_atr == 2.5
    assert h.generator == "llm"
    assert "EMA cross" in h.reasoning
    assert h.prompt_hash
    sent = fake.requests[0]
    assert sent.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert sent.headers["x-goog-api-key"] == "test-key"
    assert "responseJsonSchema" in sent.body["generationConfig"]
    prompt = sent.body["contents"][0]["parts"][0]["text"]
    assert "Decision time: 2024-06-01 00:00 UTC" in prompt
    assert f"last_close: {float(ctx.candles['BTC/USDT'].close[-1])}" in prompt


@pytest.mark.parametrize(("reply", "kind"), [
    (Reply(text="Sure! Here is a great strategy: buy low, sell high."), "malformed"),
    (Reply(text='{"name": "cut", "type": "momentum", "symbol": "BTC/USDT", "reasoning": "r", "rules": {"entry_'),
     "malformed"),
    (Reply(text=""), "empty"),
    (Reply(body={"promptFeedback": {"blockReason": "SAFETY"}}), "blocked"),
    (Reply(status=400, body={"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}}), "transport"),
])
async def test_garbage_is_counted_and_dropped(llm, fake: FakeGemini, btc_1h, reply: Reply, kind: str) -> None:
    fake.queue(reply)

    hyps = await llm.propose(context(btc_1h))

    assert hyps == []
    assert llm.rejected == {kind: 1}


@pytest.mark.parametrize(("change", "kind", "words"), [
    ({"risk": {"stop_atr": 0.1}}, "out_of_range", "outside"),
    ({"risk": {"stop_atr": 0}}, "out_of_range", "no stop-loss"),
    ({"risk": {"stop_atr": 2.0, "take_profit_atr": 0.5}}, "out_of_range", "take-profit"),
    ({"symbol": "DOGE/USDT"}, "out_of_range", "was not offered"),
    ({"cited_figures": [{"name": "BTC/USDT last_close", "value": 12345.0}]}, "hallucination", "the data says"),
    ({"cited_figures": [{"name": "BTC/USDT all_time_high", "value": 73000.0}]}, "hallucination", "not in the data"),
    ({"reasoning": "BTC/USDT just bounced off 61,234.5 support, so go long."}, "hallucination", "61,234.5"),
])
async def test_out_of_range_and_hallucinated_proposals_are_rejected_not_clamped(
        llm, fake: FakeGemini, btc_1h, change, kind, words) -> None:
    ctx = context(btc_1h)
    fake.queue_json(proposal(ctx, **change))

    hyps = await llm.propose(ctx)

    assert hyps == []
    assert llm.rejected == {kind: 1}
    assert words in llm.last_rejections[-1]


async def test_schema_violations_are_rejected_with_the_field_named(llm, fake: FakeGemini, btc_1h) -> None:
    ctx = context(btc_1h)
    bad = proposal(ctx)
    bad["rules"]["entry_long"][0]["left"]["period"] = 0
    fake.queue_json(bad)

    assert await llm.propose(ctx) == []
    assert llm.rejected == {"schema": 1}
    assert "rules.entry_long.0.left.period" in llm.last_rejections[-1]


async def test_a_slow_answer_times_out(tmp_path, fake: FakeGemini, btc_1h) -> None:
    src = source(tmp_path, fake.base_url, timeout_s=0.5)
    fake.queue(Reply(text=json.dumps(proposal(context(btc_1h))), hang_s=5.0))
    started = time.monotonic()
    try:
        hyps = await src.propose(context(btc_1h))
    finally:
        await src.gateway.close()

    assert hyps == []
    assert src.rejected == {"timeout": 1}
    assert time.monotonic() - started < 2.0


async def test_the_budget_stops_calls_when_spent(tmp_path, fake: FakeGemini, btc_1h) -> None:
    src = source(tmp_path, fake.base_url, daily_token_budget=6_000, max_output_tokens=4096)
    ctx = context(btc_1h)
    fake.queue(Reply(text=json.dumps(proposal(ctx)), prompt_tokens=1500, output_tokens=500))
    try:
        first = await src.propose(ctx)
        second = await src.propose(context(btc_1h, "2024-06-02T00:00:00Z"))
    finally:
        await src.gateway.close()

    assert len(first) == 1
    assert second == []
    assert fake.generate_calls == 1, "a refused call must never reach the server"
    assert src.rejected == {"budget": 1}
    assert src.gateway.budget.describe()["tokens"] == 2000


async def test_a_repeated_prompt_is_answered_from_the_audit_cache(tmp_path, fake: FakeGemini, btc_1h) -> None:
    ctx = context(btc_1h)
    fake.queue_json(proposal(ctx))
    src = source(tmp_path, fake.base_url)
    first = await src.propose(ctx)
    await src.gateway.close()
    again = source(tmp_path, fake.base_url)  # a restart: new client, same cache folder
    try:
        second = await again.propose(context(btc_1h))
    finally:
        await again.gateway.close()

    assert fake.generate_calls == 1
    assert [h.spec for h in second] == [h.spec for h in first]
    audit = json.loads(next((tmp_path / "cache").glob("*.json")).read_text())
    assert audit["prompt"].startswith("Decision time")
    assert "EMA cross" in audit["response_text"]


async def test_transient_errors_are_retried_and_the_breaker_opens(tmp_path, fake: FakeGemini, btc_1h) -> None:
    unavailable = Reply(status=503, body={"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}})
    ctx = context(btc_1h)
    fake.queue(unavailable, Reply(text=json.dumps(proposal(ctx))))
    retrying = source(tmp_path / "a", fake.base_url, retries=1, retry_initial_s=0.01, retry_max_s=0.02)
    try:
        assert len(await retrying.propose(ctx)) == 1
    finally:
        await retrying.gateway.close()
    assert fake.generate_calls == 2

    fake.queue(unavailable, unavailable, unavailable)
    brittle = source(tmp_path / "b", fake.base_url, breaker_failures=3)
    try:
        for day in ("2024-06-02", "2024-06-03", "2024-06-04", "2024-06-05"):
            await brittle.propose(context(btc_1h, f"{day}T00:00:00Z"))
    finally:
        await brittle.gateway.close()

    assert brittle.rejected == {"transport": 3, "breaker_open": 1}
    assert fake.generate_calls == 5
    assert brittle.gateway.breaker.state == "open"


def test_the_decision_time_bounds_the_data(btc_1h) -> None:
    ctx = context(btc_1h, DECISION)

    assert int(ctx.candles["BTC/USDT"].ts[-1]) < ctx.decision_ts_ms


def test_look_back_lengths_in_the_reasoning_are_not_market_figures() -> None:
    from ai_brain.llm.governance import check_reasoning_numbers

    figures = {"BTC/USDT last_close": 67_250.0}

    assert check_reasoning_numbers("Above the 200-day EMA and the 400 bars high; price near 67,300.", figures,
                                   [], 0.03) == []
    assert check_reasoning_numbers("Support sits at 61,000.", figures, [], 0.03) != []
