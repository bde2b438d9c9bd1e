"""Vectorized integrity checks on candles (and funding, tickers, books): OK, DEGRADED or BLOCKED.

The public face of :mod:`ai_brain.data.data_integrity_validator`, where the code lives:
this name is where a reader of the architecture looks for it. Code inside ``ai_brain``
imports the real module, never this face.
"""

from ai_brain.data.data_integrity_validator import (
    FROZEN_BARS,
    SPIKE_WICK_MIN,
    Finding,
    Severity,
    ValidationReport,
    Verdict,
    check_basis,
    check_funding,
    check_spread,
    check_stale,
    check_ticker,
    pct_apart,
    robust_scale,
    validate_arrays,
    validate_candles,
    worst,
)

__all__ = [
    "FROZEN_BARS",
    "SPIKE_WICK_MIN",
    "Finding",
    "Severity",
    "ValidationReport",
    "Verdict",
    "check_basis",
    "check_funding",
    "check_spread",
    "check_stale",
    "check_ticker",
    "pct_apart",
    "robust_scale",
    "validate_arrays",
    "validate_candles",
    "worst",
]
