"""The go-live double gate and one-time codes, on a fake monotonic clock (no waiting)."""

from __future__ import annotations

from pathlib import Path

import pytest

from src.config import Secrets, parse_config
from src.control.golive import ConfirmationCodes, ConfirmError, GoLiveGate, live_blockers, live_policy
from src.state.control import Controller
from src.state.store import StateStore


class Ticker:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


LIVE_OK = {"mode": "live", "live": {"allow_live_trading": True}}


def gate_for(tmp_path: Path, config: dict, clock: Ticker) -> tuple[GoLiveGate, Controller]:
    control = controller_for(tmp_path, config)
    codes = ConfirmationCodes(ttl_s=60, max_attempts=3, monotonic=clock)
    return GoLiveGate(parse_config(config), control, codes), control


def controller_for(tmp_path: Path, config: dict, key: str = "key-A") -> Controller:
    """The Controller as the bot builds it at start: checked against this config and exchange key."""
    policy = live_policy(parse_config(config), Secrets(exchange_api_key=key))
    return Controller(StateStore(tmp_path / "state"), live=policy)


def test_code_is_single_use_and_bound_to_its_actor() -> None:
    clock = Ticker()
    codes = ConfirmationCodes(monotonic=clock)
    pending = codes.issue("stop", "telegram:1", {"flatten": "true"})
    assert len(pending.code) == 6
    assert pending.code.isdigit()
    with pytest.raises(ConfirmError, match="nothing is waiting"):
        codes.redeem(pending.code, "telegram:2")
    assert codes.redeem(pending.code, "telegram:1").args == {"flatten": "true"}
    with pytest.raises(ConfirmError, match="nothing is waiting"):
        codes.redeem(pending.code, "telegram:1")


def test_code_expires() -> None:
    clock = Ticker()
    codes = ConfirmationCodes(ttl_s=60, monotonic=clock)
    pending = codes.issue("golive", "a")
    clock.now += 60.0
    with pytest.raises(ConfirmError, match="expired"):
        codes.redeem(pending.code, "a")
    assert codes.pending("a") is None


def test_wrong_codes_cancel_after_max_attempts() -> None:
    clock = Ticker()
    codes = ConfirmationCodes(max_attempts=3, monotonic=clock)
    pending = codes.issue("golive", "a")
    wrong = f"{(int(pending.code) + 1) % 1_000_000:06d}"
    for left in (2, 1):
        with pytest.raises(ConfirmError, match=f"{left} attempt"):
            codes.redeem(wrong, "a")
    with pytest.raises(ConfirmError, match="cancelled"):
        codes.redeem(wrong, "a")
    with pytest.raises(ConfirmError, match="nothing is waiting"):
        codes.redeem(pending.code, "a")  # the right code is dead too


def test_code_for_another_action_is_refused() -> None:
    codes = ConfirmationCodes(monotonic=Ticker())
    pending = codes.issue("stop", "a")
    with pytest.raises(ConfirmError, match="for stop, not golive"):
        codes.redeem(pending.code, "a", "golive")


def test_non_ascii_input_is_just_a_wrong_code() -> None:
    codes = ConfirmationCodes(monotonic=Ticker())
    codes.issue("golive", "a")
    with pytest.raises(ConfirmError, match="wrong code"):
        codes.redeem("１２３４５６", "a")


def test_config_half_of_the_gate() -> None:
    assert live_blockers(parse_config(LIVE_OK)) == []
    blockers = live_blockers(parse_config({"mode": "paper"}))
    assert any("allow_live_trading" in b for b in blockers)
    assert any("paper mode" in b for b in blockers)


def test_request_refused_when_config_forbids_live(tmp_path: Path) -> None:
    gate, control = gate_for(tmp_path, {"mode": "live"}, Ticker())
    ok, message, data = gate.request("a")
    assert not ok
    assert "allow_live_trading" in message
    assert "code" not in data
    assert gate.codes.pending("a") is None
    assert not control.state.live_confirmed


def test_full_gate_records_confirmation_and_persists(tmp_path: Path) -> None:
    gate, control = gate_for(tmp_path, LIVE_OK, Ticker())
    ok, message, data = gate.request("telegram:1")
    assert ok
    assert data["code"] in message
    ok, _, _ = gate.confirm("telegram:1", data["code"])
    assert ok
    assert control.state.live_confirmed
    assert control.state.live_confirmed_by == "telegram:1"
    reloaded = controller_for(tmp_path, LIVE_OK)
    assert reloaded.state.live_confirmed  # survives a restart
    ok, _, _ = gate.revoke("telegram:1")
    assert ok
    assert not controller_for(tmp_path, LIVE_OK).state.live_confirmed


def test_expired_or_wrong_confirmation_changes_nothing(tmp_path: Path) -> None:
    clock = Ticker()
    gate, control = gate_for(tmp_path, LIVE_OK, clock)
    before = (tmp_path / "state" / "control.json").read_bytes()
    code = gate.request("a")[2]["code"]
    ok, message, _ = gate.confirm("a", f"{(int(code) + 1) % 1_000_000:06d}")
    assert not ok
    assert "wrong code" in message
    clock.now += 61
    ok, message, _ = gate.confirm("a", code)
    assert not ok
    assert "expired" in message
    assert not control.state.live_confirmed
    assert (tmp_path / "state" / "control.json").read_bytes() == before


def test_config_is_checked_again_at_confirmation(tmp_path: Path) -> None:
    clock = Ticker()
    gate, control = gate_for(tmp_path, LIVE_OK, clock)
    code = gate.request("a")[2]["code"]
    gate.config = parse_config({"mode": "live"})  # the operator flipped allow_live_trading off meanwhile
    ok, message, _ = gate.confirm("a", code)
    assert not ok
    assert "allow_live_trading" in message
    assert not control.state.live_confirmed


def confirmed(tmp_path: Path, config: dict = LIVE_OK) -> Controller:
    gate, control = gate_for(tmp_path, config, Ticker())
    code = gate.request("telegram:1")[2]["code"]
    assert gate.confirm("telegram:1", code)[0]
    assert control.state.live_confirmed
    return control


def test_the_confirmation_records_who_when_and_the_key_fingerprint(tmp_path: Path) -> None:
    control = confirmed(tmp_path)
    saved = (tmp_path / "state" / "control.json").read_text()
    live = control.state.live
    assert live is not None
    assert live.by == "telegram:1"
    assert live.at.endswith("Z")
    assert len(live.key_fingerprint) == 16
    assert "key-A" not in saved


@pytest.mark.parametrize("trip", ["kill_switch", "emergency_stop", "daily_loss"])
def test_any_guard_drops_back_to_paper_and_resume_never_restores_live(tmp_path: Path, trip: str) -> None:
    from src.risk.kill_switch import KillSwitch

    control = confirmed(tmp_path)
    risk = parse_config({"risk": {"max_drawdown_fraction": 0.2, "daily_loss_limit_fraction": 0.05}}).risk
    kill = KillSwitch(risk, control._store, control, lambda _e: None)
    kill.update(10_000, 1_000)
    if trip == "kill_switch":
        kill.update(7_900, 2_000)
    elif trip == "emergency_stop":
        kill.emergency_stop("telegram:1", 2_000)
    else:
        kill.update(9_400, 2_000)
    assert not control.state.live_confirmed
    control.release(trip, "telegram:1")  # type: ignore[arg-type]
    control.resume("telegram:1")
    kill.update(9_000, 3_000)
    assert not control.state.live_confirmed
    assert not controller_for(tmp_path, LIVE_OK).state.live_confirmed


def test_a_material_reconcile_hold_drops_back_to_paper(tmp_path: Path) -> None:
    control = confirmed(tmp_path)
    control.hold("reconcile", "reconcile", "balance USDT off by 2,500")
    assert not control.state.live_confirmed


def test_live_off_at_any_start_voids_the_confirmation(tmp_path: Path) -> None:
    confirmed(tmp_path)
    assert not controller_for(tmp_path, {"mode": "live"}).state.live_confirmed  # a start with live off
    assert not controller_for(tmp_path, LIVE_OK).state.live_confirmed  # flipped back on: a new yes is needed


def test_another_exchange_key_voids_the_confirmation(tmp_path: Path) -> None:
    confirmed(tmp_path)
    assert not controller_for(tmp_path, LIVE_OK, key="key-B").state.live_confirmed


def test_an_old_confirmation_is_void(tmp_path: Path) -> None:
    import time

    config = {**LIVE_OK, "live": {"allow_live_trading": True, "confirmation_max_age_hours": 1}}
    policy = live_policy(parse_config(config), Secrets(exchange_api_key="key-A"))
    control = Controller(StateStore(tmp_path / "state"), live=policy, wall_s=lambda: time.time() - 3_601)
    control.confirm_live("telegram:1")
    assert not control.state.live_confirmed  # lapsed while running
    assert controller_for(tmp_path, config).state.live is None  # and void at the next start


async def test_an_inbox_go_live_needs_the_typed_phrase_and_the_requesters_secret(tmp_path: Path) -> None:
    """A local process that reads the code from the outbox cannot confirm with it."""
    from src.control.golive import binding_of, register_golive_commands
    from src.state.inbox import CommandRegistry, InboxProcessor, drop_command, read_result

    gate, control = gate_for(tmp_path, LIVE_OK, Ticker())
    registry = CommandRegistry()
    register_golive_commands(registry, gate)
    inbox, outbox = tmp_path / "state" / "inbox", tmp_path / "state" / "outbox"
    inbox.mkdir(mode=0o700)
    outbox.mkdir()
    proc = InboxProcessor(inbox, outbox, registry)

    async def ask(name: str, args: dict[str, str], actor: str = "alice"):
        cid = drop_command(inbox, name, args, actor=actor)
        await proc.process_once()
        return read_result(outbox, cid)

    untyped = await ask("golive_request", {})
    assert untyped is not None
    assert not untyped.ok
    assert "typed" in untyped.message
    ticket = await ask("golive_request", {"typed": "GO LIVE", "binding": binding_of("only-alice-knows")})
    assert ticket is not None
    assert ticket.ok
    stolen = await ask("golive_confirm", {"code": ticket.data["code"], "typed": "GO LIVE", "proof": "guess"})
    assert stolen is not None
    assert not stolen.ok
    assert not control.state.live_confirmed
    ticket = await ask("golive_request", {"typed": "GO LIVE", "binding": binding_of("only-alice-knows")})
    assert ticket is not None
    real = await ask("golive_confirm", {"code": ticket.data["code"], "typed": "GO LIVE", "proof": "only-alice-knows"})
    assert real is not None
    assert real.ok
    assert control.state.live_confirmed
