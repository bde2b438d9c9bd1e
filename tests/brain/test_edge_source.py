"""The documented-edge source: valid specs of every edge family, reproducible with a seed."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from ai_brain.generators.edges import EDGE_FAMILIES, EdgeSource
from ai_brain.hypothesis_generator import GenerationContext
from src.market.history import load_funding
from src.strategy.data import Candles, Funding
from src.strategy.signals import compute_signals
from src.strategy.spec import StrategySpec
from tests.conftest import data_file


@pytest.fixture(scope="module")
def btc_funding() -> Funding:
    return load_funding(data_file("binanceusdm_BTC-USDT_funding-8h.csv.gz"))


def _ctx(btc: Candles, eth: Candles, funding: Funding, cycle: int = 0) -> GenerationContext:
    return GenerationContext(decision_ts_ms=int(btc.ts[-1]), timeframe="1h",
                             candles={"BTC/USDT": btc, "ETH/USDT": eth}, funding={"BTC/USDT": funding}, cycle=cycle)


def _series(btc_1h: Candles, eth_1h: Candles) -> tuple[Candles, Candles]:
    n = 6000
    return btc_1h.slice(len(btc_1h) - n, len(btc_1h)), eth_1h.slice(len(eth_1h) - n, len(eth_1h))


async def test_every_edge_family_is_drawn_and_each_spec_round_trips(btc_1h, eth_1h, btc_funding) -> None:
    btc, eth = _series(btc_1h, eth_1h)
    hyps = await EdgeSource(40, seed=3).propose(_ctx(btc, eth, btc_funding))
    assert len(hyps) == 40
    edges = Counter(str(h.spec.parameters["edge"]) for h in hyps)
    assert set(edges) == set(EDGE_FAMILIES)
    for h in hyps:
        assert StrategySpec.model_validate_json(h.spec.model_dump_json()) == h.spec
        assert h.generator == "edges"


async def test_same_seed_same_hypotheses_other_seed_others(btc_1h, eth_1h, btc_funding) -> None:
    btc, eth = _series(btc_1h, eth_1h)
    ctx = _ctx(btc, eth, btc_funding)
    first = [h.spec for h in await EdgeSource(16, seed=5).propose(ctx)]
    again = [h.spec for h in await EdgeSource(16, seed=5).propose(ctx)]
    other = [h.spec for h in await EdgeSource(16, seed=6).propose(ctx)]
    assert first == again
    assert first != other


async def test_carry_is_not_proposed_without_funding_history(btc_1h, eth_1h) -> None:
    btc, eth = _series(btc_1h, eth_1h)
    ctx = GenerationContext(int(btc.ts[-1]), "1h", {"BTC/USDT": btc, "ETH/USDT": eth})
    hyps = await EdgeSource(24, seed=3).propose(ctx)
    assert hyps
    assert all(h.spec.parameters["edge"] != "carry" for h in hyps)


def test_carry_levels_come_from_the_symbols_own_funding(btc_1h, eth_1h, btc_funding) -> None:
    btc, eth = _series(btc_1h, eth_1h)
    ctx = _ctx(btc, eth, btc_funding)
    rng = random.Random(1)
    specs = [h.spec for _ in range(20) if (h := EdgeSource(1).draw(rng, ctx, "BTC/USDT", "carry"))]
    paid = btc_funding.rate[btc_funding.ts < ctx.decision_ts_ms]
    assert specs
    for s in specs:
        assert float(paid.min()) <= float(s.parameters["entry_rate"]) <= float(paid.max())
        assert s.risk.hedged


async def test_relative_strength_reads_the_peer_and_trades(btc_1h, eth_1h, btc_funding) -> None:
    """An RS hypothesis on ETH fires only when BTC's closes are attached: without them, no entry."""
    btc, eth = _series(btc_1h, eth_1h)
    ctx = _ctx(btc, eth, btc_funding)
    rng = random.Random(2)
    spec = next(h.spec for _ in range(50) if (h := EdgeSource(1).draw(rng, ctx, "ETH/USDT", "relative_strength")))
    assert spec.reference_symbols() == ["BTC/USDT"]
    with_peer = compute_signals(spec, eth.with_reference("BTC/USDT", btc))
    alone = compute_signals(spec, eth)
    assert with_peer.entry_long.any()
    assert not alone.entry_long.any()
    assert not alone.entry_short.any()


def test_mtf_trend_sizes_to_a_target_volatility(btc_1h, eth_1h, btc_funding) -> None:
    btc, eth = _series(btc_1h, eth_1h)
    rng = random.Random(4)
    ctx = _ctx(btc, eth, btc_funding)
    specs = [h.spec for _ in range(30) if (h := EdgeSource(1).draw(rng, ctx, "BTC/USDT", "mtf_vol_trend"))]
    assert specs
    assert all(s.risk.target_vol > 0 for s in specs)
    assert all(s.parameters["htf_sma"] > s.parameters["slow"] for s in specs)


def test_regime_versions_carry_a_regime_filter(btc_1h, eth_1h, btc_funding) -> None:
    btc, eth = _series(btc_1h, eth_1h)
    rng = random.Random(5)
    ctx = _ctx(btc, eth, btc_funding)
    specs = [h.spec for _ in range(30) if (h := EdgeSource(1).draw(rng, ctx, "BTC/USDT", "regime"))]
    assert specs
    assert all(s.rules.filters and s.parameters["regime"] in ("trend", "range", "calm", "bull") for s in specs)


async def test_walk_forward_neighbours_of_every_edge_spec_are_valid(btc_1h, eth_1h, btc_funding) -> None:
    """The re-fit step rebuilds built-in families from `parameters`; edge specs must not break it."""
    from ai_brain.evaluation.walk_forward import neighbours

    btc, eth = _series(btc_1h, eth_1h)
    for h in await EdgeSource(40, seed=3).propose(_ctx(btc, eth, btc_funding)):
        assert neighbours(h.spec)[0] == h.spec
