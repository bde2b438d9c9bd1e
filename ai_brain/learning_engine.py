"""The learning engine: regimes per symbol, the pattern database and the replay buffer, fed by trades.

The public face of :mod:`ai_brain.discovery.learning_engine`, where the code lives:
this name is where a reader of the architecture looks for it. Code inside ``ai_brain``
imports the real module, never this face.
"""

from ai_brain.discovery.learning_engine import (
    LearningEngine,
    TradeAssembler,
    closed_trade_from_ledger,
    is_automatic,
)

__all__ = [
    "LearningEngine",
    "TradeAssembler",
    "closed_trade_from_ledger",
    "is_automatic",
]
