"""Numbers, dates and escaping for messages a person reads on a phone (Telegram HTML parse mode).

Every dynamic value passes through :func:`esc` (or one of the number helpers, whose output is
plain digits) before it is placed in a template, so an id like ``a<b&c_d`` can never break the
markup or be read as a tag. Numbers are rounded for people: prices to the symbol's tick when it is
known (else six significant digits), money with thousands separators and the currency, returns
and drawdowns in percent, times as UTC ``2026-12-01 14:00``. Templates live in
:mod:`src.telegram.render.templates`.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

TELEGRAM_LIMIT = 4096  # Bot API: "Text of the message to be sent, 1-4096 characters after entities parsing"
PART_LIMIT = 4000  # margin below the limit for the "(1/3)" counters
NA = "n/a"
_TAG = re.compile(r"<[^>]*>")


def esc(value: Any) -> str:
    """``value`` as text safe inside Telegram HTML (``<``, ``>``, ``&`` escaped; quotes need not be)."""
    return html.escape(str(value), quote=False)


def _number(value: Any) -> float | None:
    """A finite float, or None for anything a person should see as "n/a"."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def decimals_of(step: float) -> int:
    """Decimal places a tick or lot step shows: 0.01 → 2, 0.5 → 1, 10 → 0."""
    exponent = Decimal(repr(step)).normalize().as_tuple().exponent
    return max(0, -int(exponent)) if isinstance(exponent, int) else 0


def sig(value: float, digits: int = 6) -> str:
    """``value`` to ``digits`` significant digits with thousands separators; never exponent notation."""
    if value == 0:
        return "0"
    places = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    text = f"{value:,.{places}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def price(value: Any, tick: float | None = None) -> str:
    """A price rounded to ``tick`` (``3,012.35``); without a tick, six significant digits."""
    number = _number(value)
    if number is None:
        return NA
    if tick and tick > 0:
        places = decimals_of(tick)
        return f"{round(number / tick) * tick:,.{places}f}"
    return sig(number)


def qty(value: Any, step: float | None = None) -> str:
    """A quantity rounded to the lot ``step``; float dust (``8.7e-17``) shows as 0."""
    number = _number(value)
    if number is None:
        return NA
    if step and step > 0:
        return f"{round(number / step) * step:,.{decimals_of(step)}f}"
    return "0" if abs(number) < 1e-12 else sig(number, 8)


def money(value: Any, quote: str = "USDT") -> str:
    """``1234.5`` → ``1,234.50 USDT``: cents are the finest amount a person reasons about."""
    number = _number(value)
    if number is None:
        return NA
    text = f"{number + 0.0:,.2f}".replace("-0.00", "0.00")
    return f"{text} {esc(quote)}".strip()


def signed_money(value: Any, quote: str = "USDT") -> str:
    """``-3.5`` → ``−3.50 USDT``, ``3.5`` → ``+3.50 USDT``."""
    number = _number(value)
    if number is None:
        return NA
    return ("−" if number < 0 else "+") + money(abs(number), quote)


def pct(fraction: Any, places: int = 2, signed: bool = True) -> str:
    """A fraction as percent: ``-0.09219`` → ``−9.22%``."""
    number = _number(fraction)
    if number is None:
        return NA
    text = f"{abs(number) * 100:,.{places}f}%"
    if not signed:
        return ("−" if number < 0 else "") + text
    return ("−" if number < 0 else "+") + text


def ratio(value: Any, places: int = 2) -> str:
    """A plain figure (Sharpe, profit factor): two decimals, n/a when missing."""
    number = _number(value)
    return NA if number is None else f"{number:,.{places}f}"


def when(ts_ms: Any) -> str:
    """UTC epoch milliseconds → ``2026-12-01 14:00`` (seconds and ms never matter on a phone)."""
    number = _number(ts_ms)
    if number is None or number <= 0:
        return NA
    try:
        return datetime.fromtimestamp(number / 1000.0, UTC).strftime("%Y-%m-%d %H:%M")
    except (OverflowError, OSError, ValueError):
        return NA


def shorten(text: Any, limit: int) -> str:
    """Plain ``text`` cut at a word boundary under ``limit`` characters, with an ellipsis."""
    value = " ".join(str(text).split())
    if len(value) <= limit:
        return value
    cut = value[: limit - 1].rsplit(" ", 1)[0]
    return (cut or value[: limit - 1]).rstrip(" ,;:.") + "…"


def plain(html_text: str) -> str:
    """The HTML of a message as plain text (for the console and the log)."""
    return html.unescape(_TAG.sub("", html_text))


@dataclass
class Message:
    """A message: a short first line (what the phone notification shows), then detail lines.

    ``title`` and ``lines`` are HTML already (built from :func:`esc` and the number helpers); each
    line closes its own tags, so a split on line boundaries never cuts a tag in two.
    """

    title: str
    lines: list[str] = field(default_factory=list)

    def render(self) -> str:
        body = "\n".join(self.lines)
        return f"{self.title}\n{body}".rstrip() if body else self.title

    def parts(self, limit: int = PART_LIMIT) -> list[str]:
        return split_lines(self.render(), limit)


def split_lines(text: str, limit: int = PART_LIMIT) -> list[str]:
    """Cut ``text`` into parts of at most ``limit`` characters on line boundaries (each part but the
    last keeps its closing newline, so the parts joined give the text back); an over-long line is
    cut at a word boundary (templates keep lines short, so no tag pair spans such a cut)."""
    parts: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while len(line) > limit:
            if current:
                parts.append(current)
                current = ""
            head = line[:limit].rsplit(" ", 1)[0] or line[:limit]
            head = head if len(head) > limit // 2 else line[:limit]
            parts.append(head)
            line = line[len(head):]
        if current and len(current) + len(line) > limit:
            parts.append(current)
            current = ""
        current += line
    if current or not parts:
        parts.append(current)
    return parts
