"""Reading ``state/inbox/`` without trusting it: regular files only, bounded, never blocking.

Any process of the bot's user can put anything in the inbox: a directory named ``x.json``, a
FIFO (``open`` blocks until a writer appears), a symlink to ``/dev/zero`` (a read never ends) or a
huge file. Each entry is therefore opened with ``O_NOFOLLOW | O_NONBLOCK`` (a symlink fails with
``ELOOP``, a FIFO opens at once), checked with ``fstat`` to be a regular file no larger than the
limit, and read at most ``limit + 1`` bytes. Anything else is *moved aside* (``rename`` moves the
entry itself, whatever it is, without opening it) so it cannot trouble the next poll or restart.

The folder itself must not be writable by group or others: then any user of the machine could
command the bot. :func:`check_inbox_permissions` refuses that with one line.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

MAX_COMMAND_BYTES = 16_384  # a command is a few hundred bytes; anything near this is not one
GONE = "gone"  # the entry vanished between listing and reading (a script withdrew it): not an error
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)


class UnsafeInboxError(ValueError):
    """The inbox folder could be written by other users; the bot refuses to start."""


def check_inbox_permissions(inbox: Path) -> None:
    """Refuse an inbox that is a symlink or writable by group/others (one clear line)."""
    info = os.lstat(inbox)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise UnsafeInboxError(f"{inbox} must be a real directory (not a symlink); refusing to start")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UnsafeInboxError(f"{inbox} is writable by group/others (mode {stat.S_IMODE(info.st_mode):o}), so "
                               f"anyone on this machine could command the bot; run: chmod 700 {inbox}")


def list_entries(inbox: Path) -> list[Path]:
    """Every ``*.json`` entry of any type, oldest name first (ids start with a millisecond stamp)."""
    with os.scandir(inbox) as it:
        names = sorted(e.name for e in it if e.name.endswith(".json") and not e.name.startswith("."))
    return [inbox / n for n in names]


@dataclass(frozen=True)
class EntryRead:
    """One inbox entry: its bytes, or why it cannot be a command."""

    path: Path
    raw: bytes | None
    problem: str = ""


def read_entry(path: Path, max_bytes: int = MAX_COMMAND_BYTES) -> EntryRead:
    """Read ``path`` only if it is a regular file (not through a symlink) of at most ``max_bytes``."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        return EntryRead(path, None, GONE)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return EntryRead(path, None, "a symlink, not a regular file")
        return EntryRead(path, None, f"cannot be opened ({exc.strerror})")
    try:
        return _read_open(path, fd, max_bytes)
    finally:
        os.close(fd)


def _read_open(path: Path, fd: int, max_bytes: int) -> EntryRead:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        return EntryRead(path, None, f"not a regular file ({_kind(info.st_mode)})")
    if info.st_size > max_bytes:
        return EntryRead(path, None, f"too large ({info.st_size} bytes, limit {max_bytes})")
    data = os.read(fd, max_bytes + 1)
    if len(data) > max_bytes:
        return EntryRead(path, None, f"too large (over {max_bytes} bytes)")
    return EntryRead(path, data)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"),
                       (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a file"


def move_aside(path: Path, folder: Path) -> Path:
    """Rename the entry itself (file, directory, FIFO or link) into ``folder``; returns the new path."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    target, n = folder / f"{path.name}.{stamp}", 0
    while os.path.lexists(target):
        n += 1
        target = folder / f"{path.name}.{stamp}.{n}"
    os.replace(path, target)
    return target
