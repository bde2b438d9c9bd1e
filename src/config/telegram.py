"""Telegram cockpit settings; the token and chat ids come only from the environment.

Flood-control defaults follow Telegram's published limits (about 30 messages a second overall,
one a second per chat, twenty a minute per group); tests shrink them to stay fast.
"""

from pydantic import BaseModel, ConfigDict, Field


class TelegramConfig(BaseModel):
    """Where and how often the cockpit talks, and how politely it queues."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    base_url: str = "https://api.telegram.org/bot"
    status_every_minutes: float = Field(60.0, gt=0)
    heartbeat_every_hours: float = Field(6.0, gt=0)
    notify_viewers: bool = True
    per_chat_interval_s: float = Field(1.0, ge=0)
    group_interval_s: float = Field(3.0, ge=0)
    global_per_second: float = Field(30.0, gt=0)
    dedupe_window_s: float = Field(600.0, ge=0)
    max_pending: int = Field(1000, ge=10)
    retry_initial_s: float = Field(1.0, gt=0)
    retry_max_s: float = Field(60.0, gt=0)
    request_timeout_s: float = Field(10.0, gt=0)
    poll_timeout_s: float = Field(10.0, ge=0)
    confirm_code_ttl_s: float = Field(60.0, gt=0)
    confirm_max_attempts: int = Field(3, ge=1)
    final_message_timeout_s: float = Field(2.0, gt=0)
    stranger_log_interval_s: float = Field(60.0, gt=0)
    logs_max_lines: int = Field(50, ge=1, le=200)
    # trade opened/closed messages: None = on, except in replay (a fast replay would flood the phone)
    trade_messages: bool | None = None
    trade_messages_per_hour: int = Field(30, ge=0)  # beyond it: counted, said once in one summary line
