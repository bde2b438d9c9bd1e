"""The person's live confirmation: who gave it, when, for which exchange key, and when it lapses.

A confirmation is a person's yes to real money *under the conditions they saw*. It therefore
stops counting when those conditions change: the config's ``allow_live_trading`` was off at a
start since it was given (the person's later flip back on is not a yes to trading again), the
exchange key is not the one it was given for, or it is older than ``live.confirmation_max_age_hours``.
The key itself is never stored: only a salted hash prefix (the salt lives in ``control.json``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

DEFAULT_MAX_AGE_S = 7 * 86_400.0


class LiveConfirmation(BaseModel):
    """Stored in ``control.json`` under ``live``."""

    model_config = ConfigDict(extra="forbid")

    by: str
    at: str
    at_epoch: float
    key_fingerprint: str
    expires_at_epoch: float


@dataclass(frozen=True)
class LivePolicy:
    """What a confirmation is checked against at every start (built from the config and secrets)."""

    allow_live_trading: bool = False
    api_key: str = field(default="", repr=False)
    max_age_s: float = DEFAULT_MAX_AGE_S


def fingerprint(salt: str, api_key: str) -> str:
    """A salted hash prefix of ``api_key``: enough to tell keys apart, useless to recover one."""
    return hashlib.sha256(f"{salt}:{api_key}".encode()).hexdigest()[:16]


def void_reason(live: LiveConfirmation, policy: LivePolicy, salt: str, now_s: float) -> str:
    """Why ``live`` no longer counts under ``policy`` at ``now_s`` ("" while it still does)."""
    if not policy.allow_live_trading:
        return "live.allow_live_trading is off at this start"
    if not salt or live.key_fingerprint != fingerprint(salt, policy.api_key):
        return "the exchange API key is not the one it was given for"
    if now_s >= min(live.expires_at_epoch, live.at_epoch + policy.max_age_s):
        hours = policy.max_age_s / 3600
        return f"it is older than live.confirmation_max_age_hours ({hours:g} h)"
    return ""
