"""Realtime market data for paper / testnet / live: REST polling through the shared ccxt client.

The public face of :mod:`ai_brain.data.realtime_market_data`, where the code lives:
this name is where a reader of the architecture looks for it. Code inside ``ai_brain``
imports the real module, never this face.
"""

from ai_brain.data.realtime_market_data import (
    CURSOR_FILE,
    MarketCursor,
    QualityScore,
    RealtimeMarketData,
    Sink,
    Sleep,
)

__all__ = [
    "CURSOR_FILE",
    "MarketCursor",
    "QualityScore",
    "RealtimeMarketData",
    "Sink",
    "Sleep",
]
