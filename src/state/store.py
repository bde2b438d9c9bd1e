"""Crash-proof JSON files: atomic writes, schema-checked reads, quarantine instead of silent repair.

A ``kill -9`` can land between any two instructions. Writes therefore go to a temp file in the
same folder, are fsynced, renamed over the target (atomic on POSIX) and the folder is fsynced so
the rename itself survives a power cut. A reader either sees the old file or the new one, never
half of one. A file that does not parse or fails its schema is moved to ``state/quarantine/``
with a log line naming the problem, and the caller gets ``None`` — it is never overwritten in
place, so a person can still recover it.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


def fsync_dir(path: Path) -> None:
    """Persist a rename or unlink in ``path`` (a directory)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves either the old or the new content.

    ``durable=False`` skips both fsyncs: still atomic against a killed process (the rename is), but
    a power cut may keep the old content — only for summaries a journal can rebuild.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if durable:
        fsync_dir(path.parent)


def atomic_write_json(path: Path, payload: object) -> None:
    """Atomically write ``payload`` as pretty JSON (readable and repairable by a person)."""
    text = json.dumps(payload, indent=2, sort_keys=False, default=str)
    atomic_write_bytes(path, (text + "\n").encode("utf-8"))


def write_model(path: Path, model: BaseModel, durable: bool = True) -> None:
    """Atomically write a pydantic model as JSON."""
    atomic_write_bytes(path, (model.model_dump_json(indent=2) + "\n").encode("utf-8"), durable)


def quarantine(path: Path, quarantine_dir: Path, reason: str) -> Path:
    """Move a bad file aside (never delete it) and log why; returns where it went."""
    quarantine_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    target = quarantine_dir / f"{path.name}.{stamp}.{os.getpid()}"
    n = 0
    while target.exists():
        n += 1
        target = quarantine_dir / f"{path.name}.{stamp}.{os.getpid()}.{n}"
    os.replace(path, target)
    fsync_dir(path.parent)
    log.error("state file %s failed its check (%s); moved to %s", path, reason, target)
    return target


def read_model(path: Path, model: type[M], quarantine_dir: Path) -> M | None:
    """Read and validate ``path``; ``None`` if missing, quarantined (and ``None``) if invalid."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "<root>"
        quarantine(path, quarantine_dir, f"{where}: {first.get('msg', 'invalid')}")
    except ValueError as exc:
        quarantine(path, quarantine_dir, f"not valid JSON: {exc}")
    return None


def sweep_temp_files(folder: Path) -> int:
    """Remove temp files a killed writer left behind; they were never the real file."""
    removed = 0
    if not folder.exists():
        return 0
    for tmp in folder.rglob(".*.tmp"):
        try:
            tmp.unlink()
            removed += 1
        except OSError:
            pass
    return removed


class StateStore:
    """The single writer of ``state/``: named, schema-checked documents under one root."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir
        self.quarantine_dir = state_dir / "quarantine"
        self.dir.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        return self.dir / name

    def load(self, name: str, model: type[M]) -> M | None:
        """Load ``state/<name>`` validated against ``model``; see :func:`read_model`."""
        return read_model(self.path(name), model, self.quarantine_dir)

    def save(self, name: str, model: BaseModel, durable: bool = True) -> None:
        """Atomic replace; ``durable=False`` (no fsync) only for summaries a journal rebuilds."""
        write_model(self.path(name), model, durable)

    def load_or(self, name: str, model: type[M], default: M) -> M:
        """Load, or return ``default`` (and write it) when the file is missing or was quarantined."""
        found = self.load(name, model)
        if found is None:
            self.save(name, default)
            return default
        return found
