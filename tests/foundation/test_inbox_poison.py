"""The inbox cannot be poisoned: odd entries are moved aside with an answer, the loop never stalls."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import pytest

from src.app.control_commands import register_control_commands
from src.app.supervisor import Supervisor
from src.state.control import Controller
from src.state.inbox import CommandRegistry, InboxCommand, InboxProcessor, UnsafeInboxError, drop_command, read_result
from tests.foundation.helpers import make_ctx


def make(tmp_path: Path) -> tuple[InboxProcessor, list[str]]:
    calls: list[str] = []
    reg = CommandRegistry()

    async def pause(args: dict[str, str], actor: str):
        calls.append(actor)
        return True, "paused", {}

    reg.register("pause", pause, "pause entries")
    inbox, outbox = tmp_path / "state" / "inbox", tmp_path / "state" / "outbox"
    inbox.mkdir(parents=True, mode=0o700)
    outbox.mkdir()
    return InboxProcessor(inbox, outbox, reg), calls


class StallMonitor:
    """Measures the longest gap between wake-ups of a task that asks to run every millisecond."""

    def __init__(self) -> None:
        self.worst_s = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            self.worst_s = max(self.worst_s, now - last)
            last = now

    async def __aenter__(self) -> StallMonitor:
        self._task = asyncio.get_running_loop().create_task(self._watch())
        await asyncio.sleep(0.01)  # the watcher is running before the work starts
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.sleep(0.01)  # the watcher wakes once more and sees the last gap
        assert self._task is not None
        self._task.cancel()


async def test_a_directory_named_like_a_command_is_moved_aside_and_the_next_command_runs(tmp_path: Path) -> None:
    proc, calls = make(tmp_path)
    (proc.inbox / "0-x.json").mkdir()
    cid = drop_command(proc.inbox, "pause")

    await proc.process_once()

    assert calls == ["script:script"]
    answer = read_result(proc.outbox, "0-x")
    assert answer is not None
    assert not answer.ok
    assert "directory" in answer.message
    assert not (proc.inbox / "0-x.json").exists()
    assert read_result(proc.outbox, cid) is not None


async def test_a_fifo_never_blocks_the_loop(tmp_path: Path) -> None:
    proc, calls = make(tmp_path)
    fifo = proc.inbox / "0-fifo.json"
    os.mkfifo(fifo)
    # If a reader ever blocked on the FIFO, this writer frees it after a while so the test ends
    # (and then fails on the answer) instead of hanging the suite.
    rescue = threading.Timer(10.0, lambda: os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
                             if fifo.exists() else None)
    rescue.start()
    try:
        drop_command(proc.inbox, "pause")
        await proc.process_once()
    finally:
        rescue.cancel()

    answer = read_result(proc.outbox, "0-fifo")
    assert answer is not None
    assert "FIFO" in answer.message
    assert calls == ["script:script"]
    assert not await asyncio.to_thread(os.path.lexists, fifo)


@pytest.mark.parametrize("target", ["/dev/zero", "/etc/hostname"])
async def test_a_symlink_is_never_followed(tmp_path: Path, target: str) -> None:
    proc, _calls = make(tmp_path)
    (proc.inbox / "0-link.json").symlink_to(target)

    await proc.process_once()

    answer = read_result(proc.outbox, "0-link")
    assert answer is not None
    assert "symlink" in answer.message
    assert not await asyncio.to_thread(os.path.lexists, proc.inbox / "0-link.json")
    assert await asyncio.to_thread(Path(target).exists)  # the link was moved, never its target


async def test_an_oversized_file_is_not_read(tmp_path: Path) -> None:
    proc, _ = make(tmp_path)
    (proc.inbox / "0-big.json").write_bytes(b" " * (proc.max_bytes + 1))

    await proc.process_once()

    answer = read_result(proc.outbox, "0-big")
    assert answer is not None
    assert "too large" in answer.message


def test_refuses_an_inbox_others_can_write(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    os.chmod(inbox, 0o777)

    with pytest.raises(UnsafeInboxError) as err:
        InboxProcessor(inbox, tmp_path, CommandRegistry())

    assert "writable by group/others" in str(err.value)
    assert "\n" not in str(err.value)


async def test_two_thousand_bad_files_are_handled_in_batches_without_stalling(tmp_path: Path) -> None:
    proc, _ = make(tmp_path)
    for n in range(2000):
        (proc.inbox / f"{n:05d}-bad.json").write_text('{"id": "x y"}')

    async with StallMonitor() as monitor:
        await proc.process_once()

    print(f"\n2000 invalid inbox files: worst loop stall {monitor.worst_s * 1000:.1f} ms")
    assert proc.rejected == 2000
    assert not list(proc.inbox.iterdir())
    assert monitor.worst_s < 1.0  # regression guard only (2.5 s before batching)


async def test_two_thousand_status_commands_do_not_stall_the_loop(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    registry = CommandRegistry()
    register_control_commands(ctx, registry, Controller(ctx.store), Supervisor(ctx))
    proc = InboxProcessor(ctx.paths.inbox, ctx.paths.outbox, registry)
    for n in range(2000):
        cmd = InboxCommand(id=f"{n:05d}-status", name="status", created_at=0.0)
        (ctx.paths.inbox / f"{cmd.id}.json").write_text(cmd.model_dump_json())

    async with StallMonitor() as monitor:
        await proc.process_once()

    print(f"\n2000 status commands: worst loop stall {monitor.worst_s * 1000:.1f} ms")
    assert proc.processed == 2000
    assert len(list(ctx.paths.outbox.iterdir())) == 2000
    assert monitor.worst_s < 1.0  # regression guard only (12.6 s with an fsync per answer on the loop)
