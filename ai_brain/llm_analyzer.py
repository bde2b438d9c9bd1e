"""Market commentary and risk warnings for reports: rules always, LLM prose when available.

The public face of :mod:`ai_brain.llm.llm_analyzer`, where the code lives:
this name is where a reader of the architecture looks for it. Code inside ``ai_brain``
imports the real module, never this face.
"""

from ai_brain.llm.llm_analyzer import (
    FUNDING_EXTREME,
    Commentary,
    MarketAnalyst,
    risk_warnings,
    rules_text,
)

__all__ = [
    "FUNDING_EXTREME",
    "Commentary",
    "MarketAnalyst",
    "risk_warnings",
    "rules_text",
]
