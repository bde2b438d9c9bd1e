"""The accelerated clock the soak runs on is refused outside testnet, and never runs backwards across restarts."""

from __future__ import annotations

import time

import pytest

from src.config import AppConfig
from src.core.clock import ScaledClock


@pytest.mark.parametrize("mode", ["paper", "live", "replay"])
def test_an_accelerated_clock_is_refused_outside_testnet(mode: str) -> None:
    with pytest.raises(ValueError, match="testnet_clock_speed"):
        AppConfig.model_validate({"mode": mode, "exchange": {"testnet_clock_speed": 60,
                                                             "testnet_clock_anchor_ms": 1}})


def test_a_restarted_process_continues_the_same_market_time() -> None:
    anchor = int(time.time() * 1000) - 1_000
    first = ScaledClock(3600, anchor).now_ms()
    second = ScaledClock(3600, anchor).now_ms()  # a new process life, same anchor
    assert second >= first
    assert first - anchor >= 3600 * 1_000
