"""Console notifier: without a Telegram token, alerts and discoveries are written to console and log.

The Telegram cockpit subscribes to the same events; this one is always on, so nothing a person
should read depends on Telegram being up.
"""

from __future__ import annotations

import logging

from src.core.events import Alert, DataStatus, Event, StrategyEvent
from src.runtime.context import AppContext

log = logging.getLogger("alerts")

_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "action": logging.WARNING,
           "critical": logging.CRITICAL}


class ConsoleNotifier:
    """Logs every alert, data-status change and strategy event as one readable line."""

    name = "console_notifier"

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.sent = 0
        self._sub = ctx.bus.subscribe(self.name, self.on_event, kinds=("alert", "strategy", "data_status"))

    async def on_event(self, event: Event) -> None:
        self.sent += 1
        if isinstance(event, Alert):
            log.log(_LEVELS.get(event.level, logging.INFO), "ALERT [%s] %s — %s", event.level, event.title,
                    event.text)
        elif isinstance(event, StrategyEvent):
            log.info("STRATEGY %s → %s: %s", event.strategy_id, event.status, event.reason)
        elif isinstance(event, DataStatus):
            level = logging.INFO if event.status == "OK" else logging.WARNING
            log.log(level, "DATA %s is %s: %s", event.symbol, event.status, "; ".join(event.reasons) or "ok")

    async def run(self) -> None:
        await self.ctx.bus.run_subscriber(self._sub)
