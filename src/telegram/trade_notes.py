"""Trade opened/closed messages from the runner's :class:`~src.core.events.TradeOpened` and
:class:`~src.core.events.TradeClosed` events, throttled so a fast replay cannot flood a phone.

Off in replay unless ``telegram.trade_messages`` says otherwise. At most
``telegram.trade_messages_per_hour`` (wall-clock, sliding hour) are sent; the rest are counted
and said in one line with the next message that may go ("… and N more since …, see /trades").
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from src.core.events import TradeClosed, TradeOpened
from src.telegram.render import templates
from src.telegram.render.format import Message

HOUR_S = 3600.0


def trade_messages_on(mode: str, setting: bool | None) -> bool:
    """The config's word, or by default: every mode but replay."""
    return setting if setting is not None else mode != "replay"


class TradeThrottle:
    """A sliding-hour budget of messages, with a count of what it held back."""

    def __init__(self, per_hour: int, now: Callable[[], float] = time.monotonic) -> None:
        self.per_hour, self._now = per_hour, now
        self._sent: deque[float] = deque()
        self.held_back = 0

    def admit(self) -> tuple[bool, int]:
        """(may send now, how many were held back before it — reset once said)."""
        t = self._now()
        while self._sent and t - self._sent[0] >= HOUR_S:
            self._sent.popleft()
        if len(self._sent) >= self.per_hour:
            self.held_back += 1
            return False, 0
        self._sent.append(t)
        skipped, self.held_back = self.held_back, 0
        return True, skipped


def trade_message(event: TradeOpened | TradeClosed, quote: str) -> Message:
    """The template for the event, fed with the fields it reads."""
    if isinstance(event, TradeOpened):
        return templates.trade_opened({"side": event.side, "symbol": event.symbol, "price": event.price_quote,
                                       "qty": event.qty_base, "notional": event.qty_base * event.price_quote,
                                       "strategy_id": event.strategy_id, "ts_ms": event.ts_ms}, quote)
    cost = event.entry_price_quote * event.qty_base
    return templates.trade_closed({"symbol": event.symbol, "pnl": event.net_quote,
                                   "ret": event.net_quote / cost if cost > 0 else None,
                                   "entry": event.entry_price_quote, "exit": event.exit_price_quote,
                                   "qty": event.qty_base, "fees": event.fees_quote, "reason": event.reason,
                                   "strategy_id": event.strategy_id, "ts_ms": event.ts_ms}, quote)


def with_skipped(message: Message, skipped: int) -> Message:
    """Say how many trade messages the throttle held back before this one."""
    if not skipped:
        return message
    return Message(message.title, [*message.lines, f"… and {skipped} more trade message(s) held back: see /trades"])
