"""Response schemas sent to the model, in tiers from rich to bare, and their measured size.

Constrained decoding compiles the schema into a state machine, and services refuse schemas that
are too large: Gemini says only "The API may reject very large or deeply nested schemas ... try
simplifying your schema by shortening property names, reducing nesting, or limiting the number of
constraints" (https://ai.google.dev/gemini-api/docs/structured-output, "Limitations") and answers
400 INVALID_ARGUMENT "...too many states for serving". No number is published, so we keep the
richest tier under :data:`MAX_SCHEMA_BYTES` of compact JSON (a test measures it) and step down a
tier when a service still refuses one:

- ``full``: shared definitions kept as ``$defs``/``$ref`` (not inlined: the old inlined schema was
  16.8 KB), field descriptions and numeric bounds;
- ``lean``: the same shape with no descriptions and no bounds (our own validation still applies
  every bound after the answer arrives);
- ``none``: no schema, JSON mode only; the prompt and our validation carry the shape.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel

Tier = Literal["full", "lean", "none"]
TIERS: tuple[Tier, ...] = ("full", "lean", "none")
MAX_SCHEMA_BYTES = 8_192

_ALWAYS_DROP = frozenset({"title", "default", "additionalProperties"})
_LEAN_DROP = _ALWAYS_DROP | {"description", "minimum", "maximum", "minLength", "maxLength", "minItems",
                             "maxItems"}
_EXCLUSIVE = {"exclusiveMinimum": "minimum", "exclusiveMaximum": "maximum"}


def _plain(node: Any, drop: frozenset[str]) -> Any:
    """Strip keys in ``drop`` and turn exclusive bounds into inclusive ones (our own validation keeps
    them strict): keywords every structured-output endpoint accepts."""
    if isinstance(node, list):
        return [_plain(v, drop) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        name = _EXCLUSIVE.get(key) or key
        if key in drop or name in drop:
            continue
        if key in ("properties", "$defs"):
            out[key] = {prop: _plain(v, drop) for prop, v in value.items()}
        else:
            out[name] = _plain(value, drop)
    return out


def json_schema_for(schema: type[BaseModel], tier: Tier = "full") -> dict[str, Any] | None:
    """The response schema for ``tier`` (None for ``none``), derived from the pydantic model."""
    if tier == "none":
        return None
    return _plain(schema.model_json_schema(), _ALWAYS_DROP if tier == "full" else _LEAN_DROP)


def schema_bytes(schema: dict[str, Any] | None) -> int:
    """Size as compact JSON, the measure :data:`MAX_SCHEMA_BYTES` applies to."""
    return 0 if schema is None else len(json.dumps(schema, separators=(",", ":")))


def is_schema_refusal(status: int | None, message: str) -> bool:
    """A 400 that blames the response schema (Gemini: "schema ... too many states"; OpenAI-compatible
    servers name ``response_format`` or the schema)."""
    text = message.lower()
    return status == 400 and ("schema" in text or "response_format" in text or "too many states" in text)
