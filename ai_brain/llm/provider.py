"""The seam between the governed gateway and one LLM service: a request in, a completion or a
:class:`ProviderError` out, nothing service-specific beyond it.

Each provider turns its service's failures into a ``ProviderError`` whose ``kind`` says what the
gateway must do: retry (``transient``), wait (``retry_after_s``), step down the schema
(``schema_refused``), or tell a person (``model_not_found``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

from src.core.errors import LabError

Finish = Literal["stop", "max_tokens", "blocked", "other"]
ErrorKind = Literal["transport", "timeout", "rate_limited", "model_not_found", "schema_refused", "rejected"]


@dataclass(frozen=True)
class Request:
    """One structured call; ``json_schema`` None means JSON mode with no schema."""

    system: str
    prompt: str
    schema_name: str
    json_schema: dict[str, Any] | None
    temperature: float
    max_output_tokens: int


@dataclass(frozen=True)
class Completion:
    """What came back; token counts as the service reported them (thinking counted on its own)."""

    text: str | None
    finish: Finish
    detail: str = ""  # the service's own finish or block reason, for the log line
    prompt_tokens: int = 0
    output_tokens: int = 0
    thinking_tokens: int = 0


class ProviderError(LabError):
    """A failed call, tagged with the action it needs."""

    def __init__(self, kind: ErrorKind, message: str, *, transient: bool = False,
                 retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.kind, self.transient, self.retry_after_s = kind, transient, retry_after_s


class Provider(Protocol):
    """One LLM service; ``name`` appears in alerts and status."""

    name: str

    async def complete(self, request: Request) -> Completion: ...

    async def close(self) -> None: ...
