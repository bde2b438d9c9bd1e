"""Historical candles: paginated, resumable, incremental downloads into an on-disk cache.

The public face of :mod:`ai_brain.data.historical_data_fetcher`, where the code lives:
this name is where a reader of the architecture looks for it. Code inside ``ai_brain``
imports the real module, never this face.
"""

from ai_brain.data.historical_data_fetcher import (
    CachedSeries,
    DownloadResult,
    Gap,
    HistoricalDataFetcher,
    Interval,
    Progress,
    cache_file,
    gap_list,
    merge_intervals,
    subtract_intervals,
)

__all__ = [
    "CachedSeries",
    "DownloadResult",
    "Gap",
    "HistoricalDataFetcher",
    "Interval",
    "Progress",
    "cache_file",
    "gap_list",
    "merge_intervals",
    "subtract_intervals",
]
