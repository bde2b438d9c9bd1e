"""AI-brain settings: generators, LLM, learning, lifecycle."""

from pydantic import BaseModel, ConfigDict


class LLMConfig(BaseModel):
    """Gemini access; the key itself comes only from the environment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    model: str = "gemini-2.5-flash"
    base_url: str | None = None


class BrainConfig(BaseModel):
    """The discovery cycle."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    cycle_minutes: float = 60.0
