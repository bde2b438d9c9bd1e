"""Secrets from the environment (or a git-ignored ``.env``), and a log filter that hides them.

Secrets are kept out of :class:`AppConfig` on purpose: the config is printed, logged and sent to
the status report; secrets must never be.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

_SECRET_NAMES = (
    "EXCHANGE_API_KEY", "EXCHANGE_API_SECRET", "TESTNET_API_KEY", "TESTNET_API_SECRET",
    "TELEGRAM_BOT_TOKEN", "GEMINI_API_KEY", "LLM_API_KEY",
)


@dataclass(frozen=True)
class Secrets:
    """Keys and ids read from the environment; ``repr`` never shows values."""

    exchange_api_key: str = field(default="", repr=False)
    exchange_api_secret: str = field(default="", repr=False)
    testnet_api_key: str = field(default="", repr=False)
    testnet_api_secret: str = field(default="", repr=False)
    telegram_bot_token: str = field(default="", repr=False)
    telegram_admin_ids: tuple[int, ...] = ()  # Telegram *user* ids with every command
    telegram_viewer_ids: tuple[int, ...] = ()  # user ids with the read-only commands
    telegram_notify_chat_ids: tuple[int, ...] = ()  # extra chats (groups) that get broadcasts
    gemini_api_key: str = field(default="", repr=False)
    llm_api_key: str = field(default="", repr=False)  # an OpenAI-compatible server's key; local ones need none

    def values(self) -> list[str]:
        """Every secret value that must be redacted from logs."""
        vals = [self.exchange_api_key, self.exchange_api_secret, self.testnet_api_key,
                self.testnet_api_secret, self.telegram_bot_token, self.gemini_api_key,
                self.llm_api_key]
        return [v for v in vals if v and len(v) >= 4]


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse ``KEY=value`` lines; comments and blanks ignored, quotes stripped."""
    out: dict[str, str] = {}
    if not path.exists():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        out[key.strip().removeprefix("export ").strip()] = value.strip().strip("'\"")
    return out


def _ids(raw: str, name: str) -> tuple[int, ...]:
    ids = []
    for part in raw.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            ids.append(int(part))
        except ValueError:
            raise ValueError(f"{name}: '{part}' is not a numeric id") from None
    return tuple(ids)


LEGACY_ADMIN_VAR = "TELEGRAM_CHAT_IDS"


def _no_groups(ids: tuple[int, ...], name: str) -> tuple[int, ...]:
    """A person's id is positive; a negative id is a group, and a group must never grant authority."""
    groups = [i for i in ids if i < 0]
    if groups:
        raise ValueError(f"{name}: {groups[0]} is a group chat id; a group cannot grant authority. Put the "
                         "people's user ids in TELEGRAM_ADMIN_IDS / TELEGRAM_VIEWER_IDS and the group in "
                         "TELEGRAM_NOTIFY_CHAT_IDS")
    return ids


def _admin_ids(get: Callable[[str], str]) -> tuple[int, ...]:
    """TELEGRAM_ADMIN_IDS, or its old name TELEGRAM_CHAT_IDS read compatibly.

    The old variable held admin *chat* ids. For a private chat the chat id is the user's id, so its
    positive entries keep their meaning as user ids; a group id in it is refused with one clear line.
    """
    new, old = get("TELEGRAM_ADMIN_IDS"), get(LEGACY_ADMIN_VAR)
    if new and old:
        raise ValueError(f"set TELEGRAM_ADMIN_IDS only ({LEGACY_ADMIN_VAR} is its old name); remove {LEGACY_ADMIN_VAR}")
    name = "TELEGRAM_ADMIN_IDS" if new else LEGACY_ADMIN_VAR
    return _no_groups(_ids(new or old, name), name)


def load_secrets(env: dict[str, str] | None = None, dotenv: Path | None = None) -> Secrets:
    """Environment wins over ``.env``; missing secrets are empty strings (offline modes need none)."""
    merged = read_dotenv(dotenv) if dotenv else {}
    merged.update(env if env is not None else os.environ)
    get = lambda k: merged.get(k, "").strip()  # noqa: E731
    return Secrets(
        exchange_api_key=get("EXCHANGE_API_KEY"),
        exchange_api_secret=get("EXCHANGE_API_SECRET"),
        testnet_api_key=get("TESTNET_API_KEY"),
        testnet_api_secret=get("TESTNET_API_SECRET"),
        telegram_bot_token=get("TELEGRAM_BOT_TOKEN"),
        telegram_admin_ids=_admin_ids(get),
        telegram_viewer_ids=_no_groups(_ids(get("TELEGRAM_VIEWER_IDS"), "TELEGRAM_VIEWER_IDS"), "TELEGRAM_VIEWER_IDS"),
        telegram_notify_chat_ids=_ids(get("TELEGRAM_NOTIFY_CHAT_IDS"), "TELEGRAM_NOTIFY_CHAT_IDS"),
        gemini_api_key=get("GEMINI_API_KEY"),
        llm_api_key=get("LLM_API_KEY"),
    )


class RedactingFilter(logging.Filter):
    """Replaces every known secret value in a log record with ``***``."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._secrets = sorted(set(secrets), key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        msg = record.getMessage()
        redacted = msg
        for s in self._secrets:
            redacted = redacted.replace(s, "***")
        if redacted != msg:
            record.msg, record.args = redacted, None
        return True
