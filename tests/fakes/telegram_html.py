"""Telegram's HTML parse mode, as the fake Bot API checks it.

Rules from https://core.telegram.org/bots/api#html-style: only the listed tags are supported;
tags must be properly nested and closed; "All <, > and & symbols that are not a part of a tag or
an HTML entity must be replaced with the corresponding HTML entities"; only the named entities
&lt; &gt; &amp; &quot; (and numeric ones) are supported. Telegram answers 400 "Bad Request: can't
parse entities" otherwise; :func:`html_problem` returns that reason, or None when the text is fine.
The length limit applies after entity parsing ("1-4096 characters after entities parsing").
"""

from __future__ import annotations

import html
import re

TAGS = frozenset({"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a",
                  "tg-emoji", "code", "pre", "blockquote"})
TOKEN = re.compile(r"<(/?)([a-z-]+)(\s[^<>]*)?>|&(#\d+|#x[0-9a-fA-F]+|lt|gt|amp|quot);|[<>&]")
TEXT_LIMIT = 4096


def html_problem(text: str) -> str | None:
    """Why Telegram would refuse ``text`` in HTML mode, or None."""
    stack: list[str] = []
    for m in TOKEN.finditer(text):
        token = m.group(0)
        if token in "<>&":
            return f"can't parse entities: unescaped {token!r} at offset {m.start()}"
        if token.startswith("&"):
            continue
        closing, name = m.group(1), m.group(2)
        if name not in TAGS:
            return f"can't parse entities: unsupported start tag \"{name}\" at offset {m.start()}"
        if not closing:
            stack.append(name)
        elif not stack or stack.pop() != name:
            return f"can't parse entities: unmatched end tag \"{name}\" at offset {m.start()}"
    if stack:
        return f"can't parse entities: can't find end tag corresponding to start tag \"{stack[-1]}\""
    return None


def visible_length(text: str) -> int:
    """Characters after entity parsing (tags removed, entities decoded)."""
    return len(html.unescape(re.sub(r"<[^>]*>", "", text)))
