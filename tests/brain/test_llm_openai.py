"""The OpenAI-compatible provider (a local Ollama / llama.cpp server) against a loopback fake of
``/v1/chat/completions``: no Gemini key, the same gateway, the same failure handling."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ai_brain.generators.llm import LLMSource
from src.config import Secrets
from src.core.events import Alert
from tests.brain.llm_builders import context, gateway, proposal
from tests.fakes.fake_openai import FakeOpenAI, Reply, error_body, rate_limited
from tests.fakes.fake_time import FakeTime

MODEL = "qwen2.5:7b-instruct"


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    server = FakeOpenAI()
    await server.start()
    yield server
    await server.close()


def _source(folder: Path, fake: FakeOpenAI, key: str = "", **cfg) -> LLMSource:
    gw, conf = gateway(folder, f"{fake.base_url}/v1", secrets=Secrets(llm_api_key=key),
                       **{"provider": "openai_compatible", "model": MODEL, **cfg})
    return LLMSource(gw, conf)


async def test_a_local_model_proposes_with_no_gemini_key(tmp_path, fake: FakeOpenAI, btc_1h) -> None:
    ctx = context(btc_1h)
    fake.queue_json(proposal(ctx), prompt_tokens=700, output_tokens=300, reasoning_tokens=200)
    src = _source(tmp_path, fake)
    try:
        hyps = await src.propose(ctx)
    finally:
        await src.gateway.close()

    assert len(hyps) == 1
    assert hyps[0].spec.symbols == ["BTC/USDT"]
    assert hyps[0].generator == "llm"
    sent = fake.requests[0]
    assert sent.path == "/v1/chat/completions"
    assert "Authorization" not in sent.headers
    assert sent.body["model"] == MODEL
    assert sent.body["max_tokens"] == src.cfg.max_output_tokens
    assert [m["role"] for m in sent.body["messages"]] == ["system", "user"]
    assert "Decision time: 2024-06-01 00:00 UTC" in sent.body["messages"][1]["content"]
    fmt = sent.body["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "LLMProposal"
    budget = src.gateway.budget.describe()
    assert budget["tokens"] == 1200
    assert budget["thinking_tokens"] == 200


async def test_the_key_is_sent_as_a_bearer_token_when_set(tmp_path, fake: FakeOpenAI, btc_1h) -> None:
    fake.api_key = "sk-local"
    fake.queue_json(proposal(context(btc_1h)))
    src = _source(tmp_path, fake, key="sk-local")
    try:
        assert len(await src.propose(context(btc_1h))) == 1
    finally:
        await src.gateway.close()


@pytest.mark.parametrize(("reply", "kind"), [
    (Reply(text="Sure! Buy low, sell high."), "malformed"),
    (Reply(text=None), "empty"),
    (Reply(raw="<html>502 Bad Gateway</html>"), "transport"),
    (Reply(body={"object": "chat.completion", "choices": []}), "transport"),
    (Reply(body={"choices": [{"message": None}]}), "transport"),
    (Reply(status=503, body=error_body("Loading model", "unavailable_error", None)), "transport"),
    (Reply(status=401, body=error_body("Incorrect API key provided.", "invalid_request_error", "invalid_api_key")),
     "transport"),
])
async def test_garbage_degrades_to_a_counted_rejection(tmp_path, fake: FakeOpenAI, btc_1h, reply: Reply,
                                                       kind: str) -> None:
    fake.queue(reply)
    src = _source(tmp_path, fake)
    try:
        hyps = await src.propose(context(btc_1h))
    finally:
        await src.gateway.close()

    assert hyps == []
    assert src.rejected == {kind: 1}


async def test_a_cut_answer_is_reported_as_max_tokens(tmp_path, fake: FakeOpenAI, btc_1h) -> None:
    fake.queue(Reply(text=json.dumps(proposal(context(btc_1h))), output_tokens=3000))
    src = _source(tmp_path, fake, max_output_tokens=2048, thinking_budget=None)
    try:
        assert await src.propose(context(btc_1h)) == []
    finally:
        await src.gateway.close()

    assert src.rejected == {"max_tokens": 1}
    assert "llm.max_output_tokens=2048" in src.last_rejections[-1]


async def test_retry_after_is_honoured(tmp_path, fake: FakeOpenAI, btc_1h) -> None:
    clock = FakeTime()
    fake.queue(rate_limited(4), Reply(text=json.dumps(proposal(context(btc_1h)))))
    src = _source(tmp_path, fake, clock=clock, retries=1, retry_initial_s=0.1, retry_max_s=10.0)
    try:
        hyps = await src.propose(context(btc_1h))
    finally:
        await src.gateway.close()

    assert len(hyps) == 1
    assert fake.chat_calls == 2
    assert clock.sleeps == [4.0]


async def test_an_unknown_local_model_is_an_action_alert(tmp_path, fake: FakeOpenAI, btc_1h) -> None:
    alerts: list[Alert] = []
    src = _source(tmp_path, fake, alerts=alerts, model="llama9:400b")
    try:
        await src.propose(context(btc_1h))
        await src.propose(context(btc_1h, "2024-06-02T00:00:00Z"))
    finally:
        await src.gateway.close()

    assert fake.chat_calls == 1
    assert len(alerts) == 1
    assert alerts[0].level == "action"
    assert "llm.model" in alerts[0].text
    assert "llama9:400b" in alerts[0].text


async def test_a_refused_schema_falls_back_to_plain_json_mode(tmp_path, fake: FakeOpenAI, btc_1h) -> None:
    refusal = Reply(status=400, body=error_body("Invalid schema for response_format 'LLMProposal'.",
                                                "invalid_request_error", None, "response_format"))
    fake.queue(refusal, refusal, Reply(text=json.dumps(proposal(context(btc_1h)))))
    src = _source(tmp_path, fake)
    try:
        hyps = await src.propose(context(btc_1h))
    finally:
        await src.gateway.close()

    assert len(hyps) == 1
    assert [r.body["response_format"]["type"] for r in fake.requests] == ["json_schema", "json_schema",
                                                                         "json_object"]


async def test_a_server_that_is_down_fails_fast(tmp_path, btc_1h) -> None:
    gw, conf = gateway(tmp_path, "http://127.0.0.1:9/v1", provider="openai_compatible", model=MODEL,
                       secrets=Secrets())
    src = LLMSource(gw, conf)
    try:
        assert await src.propose(context(btc_1h)) == []
    finally:
        await gw.close()

    assert src.rejected == {"transport": 1}
