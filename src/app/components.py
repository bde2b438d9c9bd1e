"""The mode-specific parts of the bot, in one place so the wiring can be read top to bottom.

Each subsystem adds its components here; the foundation parts (feed, inbox, notifier, status
line) are assembled in :func:`src.app.main.assemble`.
"""

from __future__ import annotations

from ai_brain.brain_wiring import add_brain_components
from ai_brain.realtime_market_data import add_market_components
from src.app.supervisor import Supervisor
from src.execution.live_wiring import add_live_components
from src.execution.setup import add_execution_components
from src.runtime.context import AppContext
from src.telegram.setup import add_telegram_components


def add_components(ctx: AppContext, supervisor: Supervisor) -> None:
    """Register market data, validation, strategies, execution, brain and cockpit components."""
    add_market_components(ctx, supervisor)
    add_brain_components(ctx, supervisor)
    add_execution_components(ctx, supervisor)
    add_live_components(ctx, supervisor)
    add_telegram_components(ctx, supervisor)
