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
    assert len(pending.code) == 6 and pending.code.isdigit()
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
    assert any("allow_live_trading" in b for b in blockers) and any("paper mode" in b for b in blockers)


def test_request_refused_when_config_forbids_live(tmp_path: Path) -> None:
    gate, control = gate_for(tmp_path, {"mode": "live"}, Ticker())
    ok, message, data = gate.request("a")
    assert not ok and "allow_live_trading" in message and "code" not in data
    assert gate.codes.pending("a") is None
    assert not control.state.live_confirmed


def test_full_gate_records_confirmation_and_persists(tmp_path: Path) -> None:
    gate, control = gate_for(tmp_path, LIVE_OK, Ticker())
    ok, message, data = gate.request("telegram:1")
    assert ok and data["code"] in message
    ok, _, _ = gate.confirm("telegram:1", data["code"])
    assert ok and control.state.live_confirmed and control.state.live_confirmed_by == "telegram:1"
    reloaded = controller_for(tmp_path, LIVE_OK)
    assert reloaded.state.live_confirmed  # survives a restart
    ok, _, _ = gate.revoke("telegram:1")
    assert ok and not controller_for(tmp_path, LIVE_OK).state.live_confirmed


def test_expired_or_wrong_confirmation_changes_nothing(tmp_path: Path) -> None:
    clock = Ticker()
    gate, control = gate_for(tmp_path, LIVE_OK, clock)
    before = (tmp_path / "state" / "control.json").read_bytes()
    code = gate.request("a")[2]["code"]
    ok, message, _ = gate.confirm("a", f"{(int(code) + 1) % 1_000_000:06d}")
    assert not ok and "wrong code" in message
    clock.now += 61
    ok, message, _ = gate.confirm("a", code)
    assert not ok and "expired" in message
    assert not control.state.live_confirmed
    assert (tmp_path / "state" / "control.json").read_bytes() == before


def test_config_is_checked_again_at_confirmation(tmp_path: Path) -> None:
    clock = Ticker()
    gate, control = gate_for(tmp_path, LIVE_OK, clock)
    code = gate.request("a")[2]["code"]
    gate.config = parse_config({"mode": "live"})  # the operator flipped allow_live_trading off meanwhile
    ok, message, _ = gate.confirm("a", code)
    assert not ok and "allow_live_trading" in message and not control.state.live_confirmed
