"""Charts are real PNG files of the requested size; drawdown maths holds for any curve."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from src.telegram.render.charts import ChartError, daily_pnl_png, drawdown, drawdown_png, equity_png, strategy_png
from tests.telegram.charts_util import png_size

pytestmark = pytest.mark.smoke  # deploy.sh runs these before every restart

HOUR_MS = 3_600_000


def curve(n: int = 200) -> list[tuple[int, float]]:
    rng = np.random.default_rng(3)
    values = 10_000 * np.cumprod(1 + rng.normal(0, 0.01, n))
    return [(1_704_067_200_000 + i * HOUR_MS, float(v)) for i, v in enumerate(values)]


@pytest.mark.parametrize("render", [equity_png, drawdown_png, lambda p, **kw: strategy_png(p, "S1", **kw)])
def test_chart_is_a_valid_png_of_the_requested_size(render) -> None:
    assert png_size(render(curve())) == (1000, 500)
    assert png_size(render(curve(), width_px=640, height_px=360)) == (640, 360)


def test_too_little_data_is_a_clear_error() -> None:
    with pytest.raises(ChartError, match="at least 2 points"):
        equity_png([(0, 1.0)])
    with pytest.raises(ChartError):
        drawdown_png([(0, 1.0), (1, float("nan"))])


@given(st.lists(st.floats(min_value=1.0, max_value=1e7), min_size=1, max_size=200))
def test_drawdown_is_never_positive_and_zero_at_new_highs(values: list[float]) -> None:
    arr = np.array(values)
    dd = drawdown(arr)
    assert np.all(dd <= 1e-12)
    assert np.all(dd > -1.0)
    at_peak = arr >= np.maximum.accumulate(arr)
    assert np.allclose(dd[at_peak], 0.0)


def trades_on(points: list[tuple[int, float]]) -> list[tuple[int, float]]:
    return [(points[i][0], (-1) ** i * 12.5 * i) for i in range(5, len(points), 20)]


def test_every_chart_kind_renders_at_phone_size(tmp_path) -> None:
    points = curve()
    prices = [(t, 60_000.0 + 50.0 * i) for i, (t, _) in enumerate(points)]
    days = [(points[0][0] + d * 86_400_000, (-1) ** d * 30.0 * d - 7.5) for d in range(9)]
    pngs = {"equity": equity_png(points, trades=trades_on(points), benchmark=prices, benchmark_label="buy & hold BTC"),
            "drawdown": drawdown_png(points),
            "daily": daily_pnl_png(days),
            "strategy": strategy_png(points[:60], "S<1>&_x", trades=trades_on(points[:60]))}
    for kind, png in pngs.items():
        assert png_size(png) == (1000, 500), kind
        assert 20_000 < len(png) < 400_000, (kind, len(png))  # drawn, not blank; small enough for a phone
        (tmp_path / f"{kind}.png").write_bytes(png)
    plain = equity_png(points)
    assert len(pngs["equity"]) > len(plain)  # markers and the benchmark line add ink


def test_daily_chart_needs_trades() -> None:
    with pytest.raises(ChartError, match="no closed trades"):
        daily_pnl_png([])
