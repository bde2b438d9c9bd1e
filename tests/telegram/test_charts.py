"""Charts are real PNG files of the requested size; drawdown maths holds for any curve."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from src.telegram.charts import ChartError, drawdown, drawdown_png, equity_png, strategy_png
from tests.telegram.charts_util import png_size

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
    assert np.all(dd <= 1e-12) and np.all(dd > -1.0)
    at_peak = arr >= np.maximum.accumulate(arr)
    assert np.allclose(dd[at_peak], 0.0)
