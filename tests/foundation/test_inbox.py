"""Inbox commands: validated, executed once, answered in the outbox; bad files quarantined."""

from __future__ import annotations

from pathlib import Path

from src.state.inbox import CommandRegistry, InboxProcessor, drop_command, read_result


def make(tmp_path: Path) -> tuple[InboxProcessor, list[str]]:
    calls: list[str] = []
    reg = CommandRegistry()

    async def pause(args: dict[str, str], actor: str):
        calls.append(f"{actor}:{args.get('reason', '')}")
        return True, "paused", {}

    reg.register("pause", pause, "pause entries")
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    inbox.mkdir()
    outbox.mkdir()
    return InboxProcessor(inbox, outbox, reg), calls


async def test_command_round_trip(tmp_path: Path) -> None:
    proc, calls = make(tmp_path)
    cid = drop_command(proc.inbox, "pause", {"reason": "news"}, actor="alice")
    assert await proc.process_once() == 1
    res = read_result(proc.outbox, cid)
    assert res is not None
    assert res.ok
    assert res.message == "paused"
    assert calls == ["script:alice:news"]
    assert not list(proc.inbox.glob("*.json"))


async def test_replayed_command_is_not_executed_twice(tmp_path: Path) -> None:
    proc, calls = make(tmp_path)
    cid = drop_command(proc.inbox, "pause")
    copy = (proc.inbox / f"{cid}.json").read_bytes()
    await proc.process_once()
    (proc.inbox / f"{cid}.json").write_bytes(copy)  # as if we crashed before deleting it
    await proc.process_once()
    assert len(calls) == 1


async def test_unknown_and_malformed_commands(tmp_path: Path) -> None:
    proc, calls = make(tmp_path)
    cid = drop_command(proc.inbox, "explode")
    (proc.inbox / "zz-bad.json").write_text('{"id": "x y", "name": "pause"}')
    await proc.process_once()
    res = read_result(proc.outbox, cid)
    assert res is not None
    assert not res.ok
    assert "unknown command 'explode'" in res.message
    assert proc.rejected == 1
    assert calls == []
    assert len(list((tmp_path / "quarantine").iterdir())) == 1
