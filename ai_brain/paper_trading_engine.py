"""The paper trading engine: a second implementation of the exchange interface, not a flag in it.

The public face of :mod:`ai_brain.paper.paper_trading_engine`, where the code lives:
this name is where a reader of the architecture looks for it. Code inside ``ai_brain``
imports the real module, never this face.
"""

from ai_brain.paper.paper_trading_engine import (
    PaperEngine,
    Publish,
)

__all__ = [
    "PaperEngine",
    "Publish",
]
