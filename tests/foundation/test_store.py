"""State files: atomic writes, schema-checked reads, quarantine instead of silent replacement."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from src.state.control import Controller, ControlState
from src.state.store import StateStore, atomic_write_bytes, sweep_temp_files

pytestmark = pytest.mark.smoke  # deploy.sh runs these before every restart


class Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n: int
    name: str


def test_round_trip(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.save("doc.json", Doc(n=1, name="a"))
    assert store.load("doc.json", Doc) == Doc(n=1, name="a")
    assert store.load("missing.json", Doc) is None
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("content", [b"{not json", b'{"n": "x", "name": "a"}', b'{"n": 1}', b""])
def test_corrupt_file_is_quarantined_with_log(tmp_path: Path, content: bytes,
                                              caplog: pytest.LogCaptureFixture) -> None:
    store = StateStore(tmp_path)
    (tmp_path / "doc.json").write_bytes(content)
    with caplog.at_level(logging.ERROR):
        assert store.load("doc.json", Doc) is None
    assert not (tmp_path / "doc.json").exists()
    moved = list((tmp_path / "quarantine").iterdir())
    assert len(moved) == 1
    assert moved[0].read_bytes() == content
    assert "doc.json" in caplog.text
    assert "quarantine" in caplog.text


def test_load_or_writes_default_after_quarantine(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    (tmp_path / "doc.json").write_text("garbage")
    got = store.load_or("doc.json", Doc, Doc(n=0, name="default"))
    assert got.name == "default"
    assert store.load("doc.json", Doc) == got
    assert len(list((tmp_path / "quarantine").iterdir())) == 1


def test_failed_write_leaves_old_content(tmp_path: Path) -> None:
    target = tmp_path / "x.json"
    atomic_write_bytes(target, b"old")

    with pytest.raises(TypeError):
        atomic_write_bytes(target, object())  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert not list(tmp_path.glob(".*.tmp"))


def test_sweep_removes_orphan_temp_files(tmp_path: Path) -> None:
    (tmp_path / ".x.json.abc.tmp").write_text("half")
    (tmp_path / "x.json").write_text("{}")
    assert sweep_temp_files(tmp_path) == 1
    assert (tmp_path / "x.json").exists()


def test_control_survives_restart_and_clears_stop(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    c = Controller(store)
    c.hold("kill_switch", "kill_switch", "drawdown 21% from peak")
    c.request_stop("script")
    again = Controller(StateStore(tmp_path))
    assert again.state.halted
    assert again.state.holds["kill_switch"].reason.startswith("drawdown")
    assert not again.state.stop_requested
    assert again.state.run_state == "halted"
    assert not again.state.entries_allowed
    assert again.release("kill_switch", "telegram:1")[0]
    assert Controller(StateStore(tmp_path)).state == ControlState.model_validate_json(
        (tmp_path / "control.json").read_bytes())
    assert Controller(StateStore(tmp_path)).state.entries_allowed
