"""The funding carry's strategy record: the carry engine trades it, the lifecycle says where.

The carry (:mod:`src.funding.runner`) is a built-in engine, not a generated spec, but it moves money
like any strategy, so it gets the same file in ``strategies/`` and the same statuses: it is filed
once as ``dry_run`` (paper orders only), and only the usual path — ``awaiting_approval``, a person's
``approved``, then ``live`` — sends its orders to the exchange. Retiring it stops new carries; legs
already open are still closed. The strategy runner never trades this record itself (the carry
engine owns it; see ``ENGINE_OWNED`` in :mod:`src.execution.runner`).
"""

from __future__ import annotations

import time

from ai_brain.discovery.strategy_store import Provenance, Source, StrategyRecord, StrategyStore, UnknownStrategy
from src.strategy.spec import family_spec

CARRY_ID = "funding_carry"  # the carry engine's strategy id (src.funding.runner.STRATEGY_ID)


def ensure_carry_record(store: StrategyStore, symbols: tuple[str, ...] | list[str]) -> StrategyRecord:
    """The carry's record, filed as a dry run the first time; an existing one keeps its status."""
    try:
        return store.get(CARRY_ID)
    except UnknownStrategy:
        pass
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    spec = family_spec("funding_carry", id=CARRY_ID, name="Funding carry (built-in engine)",
                       symbols=list(symbols) or ["BTC/USDT"])
    rec = StrategyRecord(
        id=CARRY_ID, name=spec.name, type="funding_carry", status="dry_run", spec=spec,
        source=Source(generator="builtin", reasoning="long spot, short perp while funding pays (src/funding)",
                      hypothesis_id=CARRY_ID),
        provenance=Provenance(hypothesis_id=CARRY_ID), created_at=now, updated_at=now)
    return store.add(rec, actor="system", reason="funding carry enabled: filed as a dry run")


def carry_status(store: StrategyStore) -> str | None:
    """The carry's lifecycle status now (None when its file is gone: it then opens nothing)."""
    try:
        return store.get(CARRY_ID).status
    except UnknownStrategy:
        return None
