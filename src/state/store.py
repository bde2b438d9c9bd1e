"""Crash-proof JSON files: atomic writes, schema-checked reads, quarantine instead of silent repair.

A ``kill -9`` can land between any two instructions. Writes therefore go to a temp file in the
same folder, are fsynced, renamed over the target (atomic on POSIX) and the folder is fsynced so
the rename itself survives a power cut. A reader either sees the old file or the new one, never
half of one. A file that does not parse or fails its schema is moved to ``state/quarantine/``
with a log line naming the problem and an action alert (through the store's :class:`AlertHook`,
which the wiring connects to the event bus), and the caller gets ``None`` — it is never
overwritten in place, so a person can still recover it.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError

from src.core.events import Alert

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
AlertSink = Callable[[Alert], None]
# Not evidence of an earlier run: the folders, and the replay binding, which the entry point writes
# before the store opens (src/market/replay_binding.py).
NOT_STATE = frozenset({"quarantine", "inbox", "outbox", "replay_binding.json"})


class AlertHook:
    """Alerts raised before anyone listens (start-up recovery) are kept, then delivered on connect.

    The store and the controller are built before the notifiers subscribe to the bus; an alert
    about a lost safety file must still reach a person, so it waits here until :meth:`connect`.
    """

    def __init__(self) -> None:
        self._sink: AlertSink | None = None
        self.pending: deque[Alert] = deque(maxlen=200)

    def __call__(self, alert: Alert) -> None:
        if self._sink is None:
            self.pending.append(alert)
        else:
            self._sink(alert)

    def connect(self, sink: AlertSink) -> None:
        """From now on alerts go to ``sink``; the ones kept so far are delivered first, in order."""
        self._sink = sink
        while self.pending:
            sink(self.pending.popleft())


# Every reader of a state file shares this hook unless it is given its own, so a quarantine
# anywhere (order files, caches, the brain's documents) reaches a person once the bus is connected.
SHARED_ALERTS = AlertHook()


def fsync_dir(path: Path) -> None:
    """Persist a rename or unlink in ``path`` (a directory)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes, durable: bool = True, sync_dir: bool = True) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves either the old or the new content.

    ``durable=False`` skips both fsyncs: still atomic against a killed process (the rename is), but
    a power cut may keep the old content — only for summaries a journal can rebuild.
    ``sync_dir=False`` leaves the folder's fsync to the caller, who writes a batch then syncs once.
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
    if durable and sync_dir:
        fsync_dir(path.parent)


def atomic_write_json(path: Path, payload: object) -> None:
    """Atomically write ``payload`` as pretty JSON (readable and repairable by a person)."""
    text = json.dumps(payload, indent=2, sort_keys=False, default=str)
    atomic_write_bytes(path, (text + "\n").encode("utf-8"))


def write_model(path: Path, model: BaseModel, durable: bool = True) -> None:
    """Atomically write a pydantic model as JSON."""
    atomic_write_bytes(path, (model.model_dump_json(indent=2) + "\n").encode("utf-8"), durable)


def quarantine(path: Path, quarantine_dir: Path, reason: str, alert: AlertSink | None = None) -> Path:
    """Move a bad file aside (never delete it), log why and alert a person; returns where it went."""
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
    (alert or SHARED_ALERTS)(Alert("action", f"State file {path.name} quarantined",
                    f"{path.name} failed its check ({reason}); moved to {target}. Check it before trusting "
                    "what the bot rebuilt.", key=f"quarantine:{path.name}"))
    return target


@dataclass(frozen=True)
class Loaded(Generic[M]):
    """A read with its outcome: ``problem`` is "" (read fine), "missing" or why it was quarantined."""

    model: M | None
    problem: str = ""


def check_model(path: Path, model: type[M], quarantine_dir: Path, alert: AlertSink | None = None) -> Loaded[M]:
    """Read and validate ``path``, saying whether it was fine, missing or quarantined."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Loaded(None, "missing")
    try:
        return Loaded(model.model_validate_json(raw))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "<root>"
        reason = f"{where}: {first.get('msg', 'invalid')}"
    except ValueError as exc:
        reason = f"not valid JSON: {exc}"
    quarantine(path, quarantine_dir, reason, alert)
    return Loaded(None, f"quarantined ({reason})")


def read_model(path: Path, model: type[M], quarantine_dir: Path, alert: AlertSink | None = None) -> M | None:
    """Read and validate ``path``; ``None`` if missing, quarantined (and ``None``) if invalid."""
    return check_model(path, model, quarantine_dir, alert).model


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

    def __init__(self, state_dir: Path, alerts: AlertHook | None = None) -> None:
        self.dir = state_dir
        self.quarantine_dir = state_dir / "quarantine"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.alerts = alerts if alerts is not None else SHARED_ALERTS
        # No state document at all: a first start. Otherwise a missing safety file was lost.
        self.first_start = not any(p.suffix == ".json" for p in self.dir.iterdir() if p.name not in NOT_STATE)

    def path(self, name: str) -> Path:
        return self.dir / name

    def load(self, name: str, model: type[M]) -> M | None:
        """Load ``state/<name>`` validated against ``model``; see :func:`read_model`."""
        return read_model(self.path(name), model, self.quarantine_dir, self.alerts)

    def check(self, name: str, model: type[M]) -> Loaded[M]:
        """Like :meth:`load`, and says whether the file was missing or quarantined."""
        return check_model(self.path(name), model, self.quarantine_dir, self.alerts)

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
