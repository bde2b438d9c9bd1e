"""One fee schedule: the backtester, the paper engine, the carry and the live venue price fills alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from ai_brain.evaluation.backtest_engine import cost_model
from src.app.main import build_context
from src.app.supervisor import Supervisor
from src.app.wiring import assemble
from src.config import ConfigError, Secrets, parse_config
from src.core.clock import MarketClock
from src.orders.fees import FeeSchedule
from src.strategy.spec import family_spec

FEES = {"spot_taker_bps": 8.0, "spot_maker_bps": 6.0, "perp_taker_bps": 4.0, "perp_maker_bps": 1.5}


def test_every_part_of_the_bot_reads_the_one_schedule(tmp_path: Path) -> None:
    cfg = parse_config({"fees": FEES, "funding": {"enabled": True}, "brain": {"enabled": False}})
    ctx = build_context(cfg, Secrets(), tmp_path, MarketClock())
    services = assemble(ctx, Supervisor(ctx))
    schedule = FeeSchedule.from_config(cfg.fees)

    paper = services.execution.paper
    assert paper.fees == schedule
    assert paper.fees.fee_quote(10_000.0, "spot") == pytest.approx(8.0)
    assert paper.fees.fee_quote(10_000.0, "perp", "maker") == pytest.approx(1.5)
    assert services.live.carry is not None
    assert services.live.carry.params.spot_fee == pytest.approx(8e-4)
    assert services.live.carry.params.perp_fee == pytest.approx(4e-4)
    assert FeeSchedule.from_config(cfg.evaluator.fees) == schedule  # travels with the evaluator's config


def test_the_backtest_pays_the_rate_of_the_market_it_trades() -> None:
    fees = FeeSchedule.from_config(parse_config({"fees": FEES}).fees)
    long_only = cost_model(family_spec("momentum", fast=5, slow=20), fees, 2.0)
    short = cost_model(family_spec("momentum", fast=5, slow=20, short=True), fees, 2.0)
    carry = cost_model(family_spec("funding_carry"), fees, 2.0)

    assert (long_only.fee_bps, long_only.maker_fee_bps) == (8.0, 6.0)
    assert (short.fee_bps, short.maker_fee_bps) == (4.0, 1.5)
    assert carry.fee_bps == pytest.approx(6.0)  # both legs: the engine doubles it to spot + perp


def test_exchange_rates_replace_the_configured_ones_per_symbol() -> None:
    fees = FeeSchedule().with_exchange_rates({"BTC/USDT": {"taker": 0.00075, "maker": 0.0006},
                                              "ETH/USDT": {"taker": None}})
    assert fees.rate("spot", "taker", "BTC/USDT") == 0.00075
    assert fees.rate("spot", "maker", "BTC/USDT") == 0.0006
    assert fees.rate("spot", "taker", "ETH/USDT") == 0.001  # unknown: the configured rate


@pytest.mark.parametrize(("section", "key"), [("evaluator", "fee_bps"), ("paper", "taker_fee_bps"),
                                          ("funding", "perp_fee_bps")])
def test_an_old_fee_key_names_where_it_moved(section: str, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"'{section}\.{key}' moved to fees\."):
        parse_config({section: {key: 3}})
