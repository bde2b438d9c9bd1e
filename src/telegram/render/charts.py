"""PNG charts for /chart: equity (trade markers, cash and buy-and-hold benchmarks), drawdown,
daily P&L bars, and one strategy's cumulative P&L.

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

import matplotlib.dates as mdates
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

Point = tuple[int, float]  # (UTC epoch ms, value in quote currency)
Trade = tuple[int, float]  # (exit time in UTC epoch ms, net P&L in quote)

WIDTH_PX, HEIGHT_PX, DPI = 1000, 500, 100
FONT = 15  # points at 100 dpi: legible when a 1000 px image is shown 400 px wide on a phone


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
    ratio = np.divide(values, peak, out=np.ones_like(values, dtype=np.float64), where=peak > 0)
    return ratio - 1.0


def _figure(width_px: int, height_px: int) -> Figure:
    fig = Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)  # no bbox_inches="tight": it would change the size
    return buf.getvalue()


def _style(ax: Axes, ylabel: str, values: np.ndarray | None = None) -> None:
    """Phone-sized readability: big ticks, light grid, thousands separators on the value axis.

    ``values`` (money axes only) choose the decimals: none when the axis spans more than 20 units.
    """
    ax.set_ylabel(ylabel, fontsize=FONT)
    ax.tick_params(labelsize=FONT - 2)
    ax.grid(True, alpha=0.3)
    if values is not None:
        places = 0 if float(np.ptp(values)) > 20 else 2
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.{places}f}"))
    locator = mdates.AutoDateLocator(minticks=3, maxticks=7)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _at(ts: np.ndarray, values: np.ndarray, when_ms: Sequence[int]) -> np.ndarray:
    """The curve's value at each time (linear interpolation, clamped to the ends)."""
    x = ts.astype("int64").astype(np.float64)
    return np.interp(np.asarray(when_ms, dtype=np.float64), x, values)


def _markers(ax: Axes, ts: np.ndarray, values: np.ndarray, trades: Sequence[Trade]) -> None:
    """A triangle per closed trade at its exit: green up for a win, red down for a loss."""
    if not trades:
        return
    exits = [int(t) for t, _ in trades]
    y = _at(ts, values, exits)
    when = np.array(exits, dtype="datetime64[ms]")
    won = np.array([net > 0 for _, net in trades])
    ax.scatter(when[won], y[won], marker="^", s=70, color="tab:green", zorder=3, label="winning trade")
    ax.scatter(when[~won], y[~won], marker="v", s=70, color="tab:red", zorder=3, label="losing trade")


def equity_png(points: Sequence[Point], title: str = "Equity", quote: str = "USDT",
               width_px: int = WIDTH_PX, height_px: int = HEIGHT_PX, trades: Sequence[Trade] = (),
               benchmark: Sequence[Point] = (), benchmark_label: str = "buy & hold") -> bytes:
    """The equity curve with trade markers, the cash line (start equity) and a buy-and-hold benchmark.

    ``benchmark`` is a price series; it is scaled so that buying at the curve's first time with the
    starting equity and holding is comparable in the same currency.
    """
    ts, values = _series(points)
    fig = _figure(width_px, height_px)
    ax = fig.add_subplot()
    ax.plot(ts, values, color="tab:blue", linewidth=2.2, label="equity")
    ax.axhline(values[0], color="tab:gray", linewidth=1.2, linestyle="--", label="cash (no trading)")
    held = [(t, v) for t, v in benchmark if np.isfinite(v) and v > 0 and t >= int(ts[0].astype("int64"))]
    if len(held) >= 2:
        bts, prices = _series(held)
        ax.plot(bts, prices / prices[0] * values[0], color="tab:orange", linewidth=1.4, label=benchmark_label)
    _markers(ax, ts, values, trades)
    change = values[-1] / values[0] - 1.0 if values[0] else 0.0
    ax.set_title(f"{title}: {values[-1]:,.2f} {quote} ({change:+.2%})", fontsize=FONT + 2)
    _style(ax, quote, values)
    ax.legend(loc="best", fontsize=FONT - 3, framealpha=0.8)
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
    ax.plot(ts, dd, color="tab:red", linewidth=1.6)
    worst = int(np.argmin(dd))
    ax.scatter([ts[worst]], [dd[worst]], color="black", zorder=3, s=40)
    ax.set_title(f"{title}: now {dd[-1]:.2f}%, worst {dd.min():.2f}%", fontsize=FONT + 2)
    _style(ax, "%")
    fig.tight_layout()
    return _png(fig)


def daily_pnl_png(days: Sequence[Point], quote: str = "USDT", width_px: int = WIDTH_PX,
                  height_px: int = HEIGHT_PX) -> bytes:
    """One bar per UTC day of net P&L (green up, red down), with the period's total in the title."""
    clean = sorted((int(t), float(v)) for t, v in days if np.isfinite(v))
    if not clean:
        raise ChartError("no closed trades yet, so no daily P&L")
    ts = np.array([t for t, _ in clean], dtype="datetime64[ms]")
    nets = np.array([v for _, v in clean])
    fig = _figure(width_px, height_px)
    ax = fig.add_subplot()
    ax.bar(ts, nets, width=0.8, color=np.where(nets >= 0, "tab:green", "tab:red"))
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_title(f"Daily net P&L: total {nets.sum():+,.2f} {quote} over {len(nets)} day(s)", fontsize=FONT + 2)
    _style(ax, quote, nets)
    fig.tight_layout()
    return _png(fig)


def strategy_png(points: Sequence[Point], strategy_id: str, quote: str = "USDT",
                 width_px: int = WIDTH_PX, height_px: int = HEIGHT_PX, trades: Sequence[Trade] = ()) -> bytes:
    """One strategy's cumulative net P&L (one step per closed trade) with its drawdown underneath.

    The drawdown is in quote currency below the running peak: a P&L curve starts at zero, so a
    percentage of its peak would mean nothing.
    """
    ts, values = _series(points)
    fig = _figure(width_px, height_px)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.step(ts, values, where="post", color="tab:green", linewidth=2.0)
    top.axhline(values[0], color="tab:gray", linewidth=1.0, linestyle="--")
    _markers(top, ts, values, trades)
    top.set_title(f"Strategy {strategy_id}: {values[-1]:+,.2f} {quote}", fontsize=FONT + 2)
    _style(top, quote, values)
    below = values - np.maximum.accumulate(values)
    bottom.fill_between(ts, below, 0.0, color="tab:red", alpha=0.35, step="post")
    _style(bottom, "DD", below)
    fig.tight_layout()
    return _png(fig)
