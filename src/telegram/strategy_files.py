"""Read-only view of ``strategies/<testing|active|retired>/*.json`` for when no lifecycle service answers.

The lifecycle (AI brain) owns these files and is the only writer; the cockpit only *reads* them so
/strategies and /strategy still answer in a build (or a moment) without that service. A file that
does not parse is skipped here and left alone: quarantining it is the owner's decision.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FOLDERS = ("testing", "active", "retired")


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.debug("skipping unreadable strategy file %s: %s", path, exc)
        return None
    return data if isinstance(data, dict) else None


def list_strategies(root: Path, status: str | None = None) -> list[dict[str, Any]]:
    """Every readable strategy record (``folder`` added), optionally only one status or folder."""
    out: list[dict[str, Any]] = []
    for folder in FOLDERS:
        for path in sorted((root / folder).glob("*.json")):
            record = _read(path)
            if record is None:
                continue
            record.setdefault("id", path.stem)
            record.setdefault("status", folder)
            record["folder"] = folder
            if status is None or status in (record.get("status"), folder):
                out.append(record)
    return out


def find_strategy(root: Path, strategy_id: str) -> dict[str, Any] | None:
    """The record whose file is ``<id>.json`` in any lifecycle folder, or None."""
    for folder in FOLDERS:
        path = root / folder / f"{strategy_id}.json"
        if path.is_file():
            record = _read(path)
            if record is not None:
                record.setdefault("id", strategy_id)
                record["folder"] = folder
                return record
    return None
