"""One trading state from named holds; a lost safety file starts halted; every quarantine alerts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from src.config import parse_config
from src.core.events import Alert
from src.orders.ledger import Ledger
from src.risk.kill_switch import KillSwitch
from src.state.control import Controller, ControlState
from src.state.inbox import CommandRegistry
from src.state.store import SHARED_ALERTS, AlertHook, StateStore, read_model
from tests.foundation.test_store import Doc

DAY_MS = 86_400_000
T0 = 1_700_000_000_000 // DAY_MS * DAY_MS + 2 * 3_600_000  # 02:00 UTC: the whole test stays in one day
RISK = parse_config({"risk": {"max_drawdown_fraction": 0.2, "daily_loss_limit_fraction": 0.1}}).risk


def start(state: Path, ledger: Ledger | None = None) -> tuple[StateStore, Controller, KillSwitch, list[Alert]]:
    """What the bot builds at start for its safety files, with its own alert hook."""
    published: list[Alert] = []
    store = StateStore(state, alerts=AlertHook())
    control = Controller(store)
    kill = KillSwitch(RISK, store, control, published.append, ledger=ledger)  # type: ignore[arg-type]
    return store, control, kill, published


def action_alerts(store: StateStore) -> list[Alert]:
    return [a for a in store.alerts.pending if a.level == "action"]


@pytest.mark.parametrize("damage", ["truncate", "empty", "delete"])
def test_a_lost_control_file_never_lifts_a_kill_switch_halt(tmp_path: Path, damage: str) -> None:
    _, control, kill, _ = start(tmp_path)
    kill.update(10_000, T0)
    kill.update(7_900, T0 + 1)  # 21% below the peak: trips
    assert control.state.halted
    path = tmp_path / "control.json"
    {"truncate": lambda: path.write_bytes(path.read_bytes()[:20]), "empty": lambda: path.write_bytes(b""),
     "delete": path.unlink}[damage]()

    store, control, kill, _ = start(tmp_path)
    kill.update(7_900, T0 + 2)

    assert not control.state.entries_allowed
    assert control.state.trading_state == "halted"
    assert {"safety_file", "kill_switch"} <= set(control.state.holds)
    assert kill.state.tripped  # not re-armed: nobody released it
    assert any("control.json" in a.title for a in action_alerts(store))
    assert json.loads(path.read_text())["holds"]["safety_file"]["by"] == "startup"


def test_a_corrupt_risk_file_is_rederived_from_the_ledger(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "logs", fsync=False)
    _, control, kill, _ = start(tmp_path / "state", ledger)
    kill.update(10_000, T0)
    ledger.append(kind="fill", ts_ms=T0 + 1, symbol="BTC/USDT", side="buy", qty_base=1.0, price_quote=10_000.0,
                  deltas={"USDT": -10_000.0, "BTC": 1.0})
    ledger.append(kind="fill", ts_ms=T0 + 2, symbol="BTC/USDT", side="sell", qty_base=1.0, price_quote=8_500.0,
                  deltas={"USDT": 8_500.0, "BTC": -1.0})
    kill.update(8_500, T0 + 3)  # −15% today: the daily block
    assert kill.daily_blocked(T0 + 3)
    (tmp_path / "state" / "risk.json").write_text('{"peak_equity_quote": "lost')

    store, control, kill, published = start(tmp_path / "state", ledger)
    assert control.state.trading_state == "halted"
    assert "safety_file" in control.state.holds
    assert any("risk.json" in a.title for a in action_alerts(store))
    kill.update(8_500, T0 + 4)

    assert kill.state.peak_equity_quote == pytest.approx(10_000.0)
    assert kill.daily_blocked(T0 + 4)
    assert any(a.key == "safety:risk-rederived" for a in published)
    kill.update(7_900, T0 + 5)  # 21% below the true peak, only 7% below today's equity
    assert kill.state.tripped


def test_a_first_start_is_not_a_lost_file(tmp_path: Path) -> None:
    store, control, _kill, _ = start(tmp_path)
    assert control.state.trading_state == "active"
    assert not store.alerts.pending


def test_every_quarantine_alerts(tmp_path: Path) -> None:
    hook = AlertHook()
    store = StateStore(tmp_path, alerts=hook)
    (tmp_path / "doc.json").write_text("{nope")
    assert store.load("doc.json", Doc) is None
    (tmp_path / "other.json").write_text("[]")
    shared: list[Alert] = []
    SHARED_ALERTS.connect(shared.append)  # as the wiring does with bus.publish
    assert read_model(tmp_path / "other.json", Doc, tmp_path / "quarantine") is None  # a reader with no hook

    assert [a.key for a in hook.pending] == ["quarantine:doc.json"]
    assert hook.pending[0].level == "action"
    assert [a.key for a in shared] == ["quarantine:other.json"]
    got: list[Alert] = []
    hook.connect(got.append)  # the wiring connects the bus once the notifiers listen
    assert [a.key for a in got] == ["quarantine:doc.json"]
    assert not hook.pending


def test_legacy_control_file_is_migrated_on_read(tmp_path: Path) -> None:
    (tmp_path / "control.json").write_text(json.dumps({
        "paused": True, "paused_by": "reconcile", "paused_reason": "2 differences", "halted": True,
        "halted_by": "kill_switch", "halted_reason": "drawdown 21%", "live_confirmed": True,
        "live_confirmed_by": "telegram:1", "live_confirmed_at": "2024-01-01T00:00:00Z", "stop_requested": False,
        "updated_at": "2024-01-02T00:00:00Z"}))
    control = Controller(StateStore(tmp_path))

    holds = control.state.holds
    assert holds["reconcile"].by == "reconcile"
    assert holds["kill_switch"].reason == "drawdown 21%"
    assert control.state.trading_state == "halted"
    assert not control.state.live_confirmed
    assert ControlState.model_validate_json((tmp_path / "control.json").read_bytes()).version == 2


def test_a_legacy_file_is_still_schema_checked(tmp_path: Path) -> None:
    (tmp_path / "other.json").write_text("{}")  # not a first start
    (tmp_path / "control.json").write_text(json.dumps({"paused": "maybe"}))
    store = StateStore(tmp_path, alerts=AlertHook())
    assert Controller(store).state.trading_state == "halted"
    assert len(list((tmp_path / "quarantine").iterdir())) == 1


async def test_each_hold_is_lifted_only_by_its_own_release(tmp_path: Path) -> None:
    from src.app.control_commands import register_control_commands
    from src.app.supervisor import Supervisor
    from tests.foundation.helpers import make_ctx

    ctx = make_ctx(tmp_path)
    control = Controller(ctx.store)
    registry = CommandRegistry()
    register_control_commands(ctx, registry, control, Supervisor(ctx))
    control.pause("telegram:7", "lunch")
    control.hold("kill_switch", "kill_switch", "drawdown 21% from peak")

    ok, message, _ = await registry.execute("resume", {}, "script:anyone")
    assert ok
    assert "halted" in message
    assert "kill_switch" in message
    assert set(control.state.holds) == {"kill_switch"}
    ok, message, _ = await registry.execute("resume", {}, "script:anyone")
    assert not ok
    assert control.state.halted
    ok, message, _ = await registry.execute("release", {"hold": "reconcile"}, "script:anyone")
    assert not ok
    assert "ack_reconcile" in message
    ok, message, _ = await registry.execute("release", {"hold": "kill_switch"}, "telegram:7")
    assert ok
    assert control.state.trading_state == "active"
    assert control.state.entries_allowed
