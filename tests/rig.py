"""Test rig: an AppContext that also carries parts by name, and builders that read them.

The bot itself passes every part explicitly (``src/app/wiring.py``). Tests often swap one part
after the others exist — a stand-in live venue, a data gate, a repository — so the rig keeps them
in a dictionary and the builders below hand them to the real constructors, looking them up each
time they are needed, exactly where the root would have passed them in.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from src.app.supervisor import Supervisor
from src.app.wire_execution import Execution, add_execution_components, build_execution
from src.runtime.context import AppContext


@dataclass
class RigContext(AppContext):
    """An :class:`AppContext` plus ``services``: the parts a test wires by name."""

    services: dict[str, Any] = field(default_factory=dict)


def build_ex(ctx: RigContext, ledger_fsync: bool = False) -> Execution:
    """The real trading loop, its live venue, data gate and repository read from ``ctx.services``."""
    s = ctx.services
    ex = build_execution(ctx, s["control"], s["market_cache"], ledger=s.get("ledger"),
                         strategies=s.get("strategies"), ledger_fsync=ledger_fsync)
    ex.router._live = lambda: s.get("live_venue")
    ex.guards._data_gate = lambda: s.get("data_gate")
    return ex


def add_ex(ctx: RigContext, supervisor: Supervisor, ledger_fsync: bool = False) -> Execution:
    """:func:`build_ex`, then registered like the root does (commands, status, the runner component)."""
    ex = build_ex(ctx, ledger_fsync)
    ready = asyncio.Event()
    add_execution_components(ctx, supervisor, ex, ctx.services["commands"], ready)
    ctx.services.update(ledger=ex.ledger, paper_engine=ex.paper, portfolio=ex.portfolio, kill_switch=ex.kill,
                        risk=ex.guards, router=ex.router, runner=ex.runner)
    return ex


class RigView:
    """A :class:`~src.telegram.view.TradingView` that reads ``ctx.services`` each time (tests swap parts)."""

    def __init__(self, ctx: RigContext) -> None:
        self._s = ctx.services

    @property
    def commands(self) -> Any:
        return self._s["commands"]

    @property
    def control(self) -> Any:
        return self._s["control"]

    @property
    def portfolio(self) -> Any:
        return self._s.get("portfolio")

    @property
    def ledger(self) -> Any:
        return self._s.get("ledger")

    @property
    def strategies(self) -> Any:
        return self._s.get("strategies")
