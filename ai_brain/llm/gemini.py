"""Gemini through the async google-genai client, as the service really answers.

- 2.5-series models think, and thinking is paid out of ``max_output_tokens``: the request carries
  ``thinking_config.thinking_budget`` from ``llm.thinking_budget`` and the completion reports
  ``usage_metadata.thoughts_token_count`` so the budget charges it (billed as output).
- ``finish_reason`` is read: MAX_TOKENS (often with no parts at all when thinking spent the cap)
  and the safety reasons are told apart from an empty answer.
- 429 RESOURCE_EXHAUSTED carries a ``google.rpc.RetryInfo`` detail whose ``retryDelay`` (e.g.
  ``"37s"``) is handed to the gateway; 404 is the model; a 400 blaming the schema is marked so the
  gateway steps down a schema tier.
The SDK's own hidden retry is switched off (``HttpRetryOptions(attempts=1)``): the gateway retries.
"""

from __future__ import annotations

import re
from typing import Any

import aiohttp
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from ai_brain.llm.provider import Completion, Finish, ProviderError, Request
from ai_brain.llm.schema import is_schema_refusal
from src.config.brain import LLMConfig

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")
_BLOCKED = frozenset({"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "LANGUAGE"})


def retry_delay_s(details: Any) -> float | None:
    """``retryDelay`` of the ``google.rpc.RetryInfo`` detail in a Google API error body, in seconds."""
    error = details.get("error", details) if isinstance(details, dict) else {}
    for item in error.get("details", []) if isinstance(error, dict) else []:
        if isinstance(item, dict) and str(item.get("@type", "")).endswith("google.rpc.RetryInfo"):
            found = _DURATION.match(str(item.get("retryDelay", "")))
            if found:
                return float(found.group(1))
    return None


def _from_api_error(exc: genai_errors.APIError) -> ProviderError:
    code, message = getattr(exc, "code", None), str(getattr(exc, "message", "") or exc)[:300]
    label = f"{code} {getattr(exc, 'status', '')}: {message}"
    if isinstance(exc, genai_errors.ServerError):
        return ProviderError("transport", label, transient=True)
    if code == 429:
        return ProviderError("rate_limited", label, transient=True, retry_after_s=retry_delay_s(exc.details))
    if code == 404:
        return ProviderError("model_not_found", label)
    if is_schema_refusal(code, message):
        return ProviderError("schema_refused", label)
    return ProviderError("transport", label, transient=code == 408)


def _finish(response: Any) -> tuple[Finish, str]:
    candidates = response.candidates or []
    if not candidates:
        feedback = getattr(response, "prompt_feedback", None)
        reason = getattr(getattr(feedback, "block_reason", None), "value", None)
        return ("blocked", f"prompt blocked ({reason})") if reason else ("other", "no candidates")
    raw = candidates[0].finish_reason
    name = str(getattr(raw, "value", raw or "STOP"))
    if name == "STOP":
        return "stop", name
    if name == "MAX_TOKENS":
        return "max_tokens", name
    return ("blocked" if name in _BLOCKED else "other"), name


def _completion(response: Any) -> Completion:
    usage = response.usage_metadata
    finish, detail = _finish(response)
    return Completion(text=response.text, finish=finish, detail=detail,
                      prompt_tokens=int(getattr(usage, "prompt_token_count", 0) or 0),
                      output_tokens=int(getattr(usage, "candidates_token_count", 0) or 0),
                      thinking_tokens=int(getattr(usage, "thoughts_token_count", 0) or 0))


class GeminiProvider:
    """One Gemini model; ``await close()`` at shutdown."""

    name = "gemini"

    def __init__(self, cfg: LLMConfig, api_key: str) -> None:
        self.cfg = cfg
        opts = types.HttpOptions(base_url=cfg.base_url, api_version=cfg.api_version,
                                 timeout=int(cfg.timeout_s * 1000),
                                 retry_options=types.HttpRetryOptions(attempts=1))
        self._client = genai.Client(api_key=api_key, http_options=opts)

    async def close(self) -> None:
        await self._client.aio.aclose()

    def _config(self, req: Request) -> types.GenerateContentConfig:
        thinking = (types.ThinkingConfig(thinking_budget=self.cfg.thinking_budget)
                    if self.cfg.thinking_budget is not None else None)
        return types.GenerateContentConfig(system_instruction=req.system, temperature=req.temperature,
                                           response_mime_type="application/json",
                                           response_json_schema=req.json_schema,
                                           max_output_tokens=req.max_output_tokens, thinking_config=thinking)

    async def complete(self, request: Request) -> Completion:
        try:
            response = await self._client.aio.models.generate_content(
                model=self.cfg.model, contents=request.prompt, config=self._config(request))
        except TimeoutError:
            raise ProviderError("timeout", f"no answer within {self.cfg.timeout_s:.1f} s") from None
        except genai_errors.APIError as exc:
            raise _from_api_error(exc) from None
        except aiohttp.ClientError as exc:
            raise ProviderError("transport", f"{type(exc).__name__}: {str(exc)[:200]}",
                                transient=isinstance(exc, aiohttp.ClientConnectionError)) from None
        return _completion(response)
