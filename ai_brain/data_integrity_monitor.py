"""The data gate: validates every candle, tick and funding event and keeps a verdict per symbol.

The public face of :mod:`ai_brain.data.data_integrity_monitor`, where the code lives:
this name is where a reader of the architecture looks for it. Code inside ``ai_brain``
imports the real module, never this face.
"""

from ai_brain.data.data_integrity_monitor import (
    DataIntegrityMonitor,
    base_symbol,
)

__all__ = [
    "DataIntegrityMonitor",
    "base_symbol",
]
