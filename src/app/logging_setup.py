"""Logging: one structured line per event to a rotating file, human lines on the console.

Every handler carries the secret-redacting filter, so a key that slips into a message or an
exception text never reaches disk, console or Telegram.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
import time
from pathlib import Path

from src.config.secrets import RedactingFilter


class JsonLineFormatter(logging.Formatter):
    """``{"ts": ..., "level": ..., "logger": ..., "msg": ...}`` — one parseable line per record."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        text = json.dumps(line, ensure_ascii=False)
        for s in self._secrets:
            text = text.replace(s, "***")
        return text


class ConsoleFormatter(logging.Formatter):
    """Short human line; exception text redacted like the message."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        self._secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        for s in self._secrets:
            text = text.replace(s, "***")
        return text


def setup_logging(log_dir: Path, level: str = "INFO", file_name: str = "ai_lab.log",
                  max_bytes: int = 5_000_000, backups: int = 5, secrets: list[str] | None = None) -> None:
    """Configure the root logger; safe to call again (handlers are replaced, not stacked)."""
    secrets = sorted(set(secrets or []), key=len, reverse=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
        h.close()
    root.setLevel(logging.DEBUG)
    redact = RedactingFilter(secrets)

    file_handler = logging.handlers.RotatingFileHandler(
        log_dir / file_name, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
    file_handler.setLevel(logging.DEBUG if level == "DEBUG" else logging.INFO)
    file_handler.setFormatter(JsonLineFormatter(secrets))
    file_handler.addFilter(redact)

    console = logging.StreamHandler(sys.stdout)
    console.setLevel(getattr(logging, level))
    console.setFormatter(ConsoleFormatter(secrets))
    console.addFilter(redact)

    root.addHandler(file_handler)
    root.addHandler(console)
    for noisy in ("httpx", "httpcore", "asyncio", "numba", "matplotlib", "telegram.ext", "google_genai"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
