"""PNG charts for /chart: the equity curve, the drawdown from peak, and one strategy's equity.

Drawn with matplotlib's object API on the Agg canvas (no pyplot, no global figure state, no
display), so rendering is safe in a worker thread; callers run it with ``asyncio.to_thread`` so a
chart never stalls the trading loop. The image is exactly ``width_px`` x ``height_px``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

from src.core.errors import LabError

matplotlib.use("Agg")  # a VPS has no display; must precede any backend use

import numpy as np  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

Point = tuple[int, float]  # (UTC epoch ms, value in quote currency)

WIDTH_PX, HEIGHT_PX, DPI = 1000, 500, 100


class ChartError(LabError, ValueError):
    """Not enough data to draw anything meaningful; the message says what is missing."""


def _series(points: Sequence[Point]) -> tuple[np.ndarray, np.ndarray]:
    clean = sorted((int(t), float(v)) for t, v in points if np.isfinite(v))
    if len(clean) < 2:
        raise ChartError(f"need at least 2 points to draw a curve, have {len(clean)}")
    ts = np.array([t for t, _ in clean], dtype="datetime64[ms]")
    return ts, np.array([v for _, v in clean], dtype=np.float64)


def drawdown(values: np.ndarray) -> np.ndarray:
    """Fractional drawdown from the running peak (0 at a new high, negative below it)."""
    peak = np.maximum.accumulate(values)
    return np.where(peak > 0, values / peak - 1.0, 0.0)


def _figure(width_px: int, height_px: int) -> Figure:
    fig = Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)  # no bbox_inches="tight": it would change the size
    return buf.getvalue()


def equity_png(points: Sequence[Point], title: str = "Equity", quote: str = "USDT",
               width_px: int = WIDTH_PX, height_px: int = HEIGHT_PX) -> bytes:
    """The equity curve with its running peak."""
    ts, values = _series(points)
    fig = _figure(width_px, height_px)
    ax = fig.add_subplot()
    ax.plot(ts, values, color="tab:blue", linewidth=1.4, label="equity")
    ax.plot(ts, np.maximum.accumulate(values), color="tab:gray", linewidth=0.8, linestyle="--", label="peak")
    change = values[-1] / values[0] - 1.0 if values[0] else 0.0
    ax.set_title(f"{title}: {values[-1]:,.2f} {quote} ({change:+.2%})")
    ax.set_ylabel(quote)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left")
    fig.autofmt_xdate()
    fig.tight_layout()
    return _png(fig)


def drawdown_png(points: Sequence[Point], title: str = "Drawdown from peak",
                 width_px: int = WIDTH_PX, height_px: int = HEIGHT_PX) -> bytes:
    """The drawdown curve in percent, shaded, with the worst point named in the title."""
    ts, values = _series(points)
    dd = drawdown(values) * 100.0
    fig = _figure(width_px, height_px)
    ax = fig.add_subplot()
    ax.fill_between(ts, dd, 0.0, color="tab:red", alpha=0.35)
    ax.plot(ts, dd, color="tab:red", linewidth=1.0)
    ax.set_title(f"{title}: now {dd[-1]:.2f}%, worst {dd.min():.2f}%")
    ax.set_ylabel("%")
    ax.grid(True, alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    return _png(fig)


def strategy_png(points: Sequence[Point], strategy_id: str, quote: str = "USDT",
                 width_px: int = WIDTH_PX, height_px: int = HEIGHT_PX) -> bytes:
    """One strategy's equity (from its recorded curve) with the drawdown underneath."""
    ts, values = _series(points)
    fig = _figure(width_px, height_px)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.plot(ts, values, color="tab:green", linewidth=1.3)
    top.set_title(f"Strategy {strategy_id}: {values[-1]:,.2f} {quote}")
    top.set_ylabel(quote)
    top.grid(True, alpha=0.3)
    bottom.fill_between(ts, drawdown(values) * 100.0, 0.0, color="tab:red", alpha=0.35)
    bottom.set_ylabel("DD %")
    bottom.grid(True, alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    return _png(fig)
