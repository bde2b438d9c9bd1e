"""Read and write candle files: ``timestamp,open,high,low,close,volume`` CSV (optionally gzip) and npz.

The CSV format is the project's exchange format (the shared real data, exports, imports): the
timestamp is the candle's *open* time in UTC epoch milliseconds, volume is in the base asset.
The ``.npz`` form (int64 ``timestamp`` + float64 columns) is the fast on-disk cache.

:func:`load_candles` is strict by default — exact header, numeric columns, strictly increasing
timestamps and no NaN — so a caller that just wants candles never computes on a broken file.
Validation tools pass ``strict=False`` to get the raw content and report every problem at once.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pandas as pd

from src.core.errors import LabError
from src.core.timeframes import timeframe_ms
from src.state.store import atomic_write_bytes

COLUMNS: tuple[str, ...] = ("timestamp", "open", "high", "low", "close", "volume")
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
_DTYPES = {"timestamp": "int64", **{c: "float64" for c in COLUMNS[1:]}}


__all__ = ["COLUMNS", "CandleFileError", "check_strict", "frame_from_rows", "infer_timeframe_ms",
           "load_candles", "timeframe_ms", "write_candles"]


class CandleFileError(LabError, ValueError):
    """A candle file that is not in the expected format; the message names the file and the problem."""


def infer_timeframe_ms(timestamps: np.ndarray) -> int:
    """The most common positive step between timestamps (gaps and errors do not fool a mode)."""
    steps = np.diff(np.asarray(timestamps, dtype=np.int64))
    steps = steps[steps > 0]
    if steps.size == 0:
        raise CandleFileError("cannot infer the timeframe from fewer than two distinct timestamps")
    values, counts = np.unique(steps, return_counts=True)
    return int(values[np.argmax(counts)])


def empty_frame() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=_DTYPES[c]) for c in COLUMNS})


def load_candles(path: str | Path, *, strict: bool = True) -> pd.DataFrame:
    """Load a ``.csv``, ``.csv.gz`` or ``.npz`` candle file into columns ``COLUMNS``.

    ``strict`` additionally requires strictly increasing timestamps and no NaN.
    """
    path = Path(path)
    if not path.exists():
        raise CandleFileError(f"{path}: no such file")
    df = _load_npz(path) if path.suffix == ".npz" else _load_csv(path)
    if strict:
        check_strict(df, str(path))
    return df


def _load_csv(path: Path) -> pd.DataFrame:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            header = fh.readline().strip().lstrip("\ufeff")
    except (OSError, UnicodeDecodeError) as exc:
        raise CandleFileError(f"{path}: unreadable ({exc})") from None
    if tuple(h.strip() for h in header.split(",")) != COLUMNS:
        raise CandleFileError(f"{path}: header must be '{','.join(COLUMNS)}', found '{header}'")
    try:
        return pd.read_csv(path, dtype=_DTYPES, engine="c", compression="infer")
    except (ValueError, TypeError) as exc:
        raise CandleFileError(f"{path}: a value is not a number or a timestamp is not an integer "
                              f"({str(exc).splitlines()[0]})") from None


def _load_npz(path: Path) -> pd.DataFrame:
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [c for c in COLUMNS if c not in z.files]
            if missing:
                raise CandleFileError(f"{path}: npz lacks arrays {missing}")
            data = {c: np.asarray(z[c], dtype=_DTYPES[c]) for c in COLUMNS}
    except (OSError, ValueError) as exc:
        raise CandleFileError(f"{path}: unreadable npz ({exc})") from None
    return pd.DataFrame(data)


def check_strict(df: pd.DataFrame, name: str = "candles") -> None:
    """Raise :class:`CandleFileError` naming the first unsorted/duplicate timestamp or NaN row."""
    ts = df["timestamp"].to_numpy()
    bad = np.flatnonzero(np.diff(ts) <= 0)
    if bad.size:
        i = int(bad[0]) + 1
        raise CandleFileError(f"{name}: timestamps not strictly increasing at row {i + 1} (ts {int(ts[i])})")
    values = df[list(COLUMNS[1:])].to_numpy()
    nan_rows = np.flatnonzero(np.isnan(values).any(axis=1))
    if nan_rows.size:
        i = int(nan_rows[0])
        raise CandleFileError(f"{name}: NaN value at row {i + 1} (ts {int(ts[i])})")


def frame_from_rows(rows: list[list[float]] | np.ndarray) -> pd.DataFrame:
    """Build a candle frame from ``[ts, o, h, l, c, v]`` rows (ccxt's OHLCV shape)."""
    arr = np.asarray(rows, dtype=np.float64).reshape(-1, 6)
    df = pd.DataFrame(arr[:, 1:], columns=list(COLUMNS[1:]))
    df.insert(0, "timestamp", arr[:, 0].astype(np.int64))
    return df


def write_candles(path: str | Path, df: pd.DataFrame) -> None:
    """Atomically write ``df`` as ``.csv``, ``.csv.gz`` or ``.npz`` (chosen by the suffix)."""
    path = Path(path)
    if path.suffix == ".npz":
        buf = io.BytesIO()
        np.savez_compressed(buf, **{c: df[c].to_numpy(dtype=_DTYPES[c]) for c in COLUMNS})
        atomic_write_bytes(path, buf.getvalue())
        return
    text = df[list(COLUMNS)].to_csv(index=False, lineterminator="\n").encode("utf-8")
    atomic_write_bytes(path, gzip.compress(text, compresslevel=6, mtime=0) if path.suffix == ".gz" else text)
