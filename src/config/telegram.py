"""Telegram cockpit settings; the token and chat ids come only from the environment."""

from pydantic import BaseModel, ConfigDict


class TelegramConfig(BaseModel):
    """Where and how often the cockpit talks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    base_url: str = "https://api.telegram.org/bot"
    status_every_minutes: float = 60.0
    heartbeat_every_hours: float = 6.0
