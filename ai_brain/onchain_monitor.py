"""Large on-chain transfers from a configurable public JSON API, raised as information alerts.

The public face of :mod:`ai_brain.intelligence.onchain_monitor`, where the code lives:
this name is where a reader of the architecture looks for it. Code inside ``ai_brain``
imports the real module, never this face.
"""

from ai_brain.intelligence.onchain_monitor import (
    OnchainMonitor,
    large_transfers,
)

__all__ = [
    "OnchainMonitor",
    "large_transfers",
]
