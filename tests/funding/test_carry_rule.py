"""The carry decision rule on hand-made situations: entry, exits, basis guard, rebalances."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from src.config.execution import FundingConfig
from src.funding.carry import CarryParams, CarryView, decide, net_entry_apr, trailing_apr

P = CarryParams.from_config(FundingConfig())


def test_params_from_config_and_costs() -> None:
    assert P.spot_fee == pytest.approx(0.001)
    assert P.perp_fee == pytest.approx(0.0005)
    assert P.round_trip_cost == pytest.approx(2 * (0.001 + 0.0005 + 2 * 0.0002))
    assert net_entry_apr(0.20, P) == pytest.approx(0.20 - P.round_trip_cost * 365 / 30)


def test_trailing_apr_uses_only_the_last_lookback_rates() -> None:
    assert trailing_apr([0.001] * 8, P) is None
    assert trailing_apr([-1.0] + [0.0001] * 9, P) == pytest.approx(0.0001 * 1095)


@pytest.mark.parametrize(("view", "action", "why"), [
    (CarryView(False, None, 0.0), "hold", "waiting"),
    (CarryView(False, 0.12, 0.0), "hold", "below entry"),       # 12% gross, ~7.9% net
    (CarryView(False, 0.20, 0.0), "enter", "above"),
    (CarryView(False, 0.20, 0.01), "hold", "basis guard"),
    (CarryView(True, 0.20, 0.03, 1.0, 1.0, 1.0), "exit", "basis guard"),
    (CarryView(True, -0.05, 0.0, 1.0, 1.0, 1.0), "exit", "fell below"),
    (CarryView(True, 0.05, 0.0, 1.0, 1.0, 1.0), "hold", "carry on"),  # between exit and entry: stay
    (CarryView(True, 0.05, 0.0, 1.0, 0.95, 1.0), "rebalance_hedge", "drift"),
    (CarryView(True, 0.05, 0.0, 1.0, 1.0, 0.4), "rebalance_margin", "required margin"),
])
def test_decide(view: CarryView, action: str, why: str) -> None:
    d = decide(view, P)
    assert d.action == action
    assert why in d.reason


@given(st.floats(-0.5, 2.0), st.floats(-0.05, 0.05))
def test_never_enters_without_net_positive_funding_or_outside_the_basis_band(apr: float, b: float) -> None:
    d = decide(CarryView(False, apr, b), P)
    if d.action == "enter":
        assert net_entry_apr(apr, P) > P.entry_apr
        assert abs(b) <= P.max_basis_entry
    assert d.action in ("enter", "hold")
