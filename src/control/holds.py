"""The person's side of the holds: ``resume`` lifts only the person's hold, ``release`` a guard's.

Each hold is lifted by its own release (see :data:`src.state.control.HOLD_RULES`): a plain
``resume`` never lifts the kill switch, an emergency stop or a lost safety file — a person must
name the hold (``release hold=kill_switch``) so that lifting a guard is a deliberate act — and
neither ever turns live trading back on: after a guard, live needs a new confirmation.
"""

from __future__ import annotations

from typing import Any, get_args

from src.state.control import HOLD_RULES, PERSON_RELEASED, Controller, HoldKind
from src.state.inbox import CommandRegistry

Result = tuple[bool, str, dict[str, Any]]


def _others(control: Controller) -> str:
    holds = control.state.holds.values()
    if not holds:
        return ""
    return " | still held: " + "; ".join(f"{h.kind} by {h.by} ({h.reason}) — lifted by {h.released_by}"
                                          for h in holds)


def resume(control: Controller, actor: str) -> Result:
    """Lift the person's hold; say what else still holds the bot and how each is lifted."""
    lifted, _ = control.resume(actor)
    state = control.state.trading_state
    data = control.describe()
    if not lifted:
        return False, f"no person's pause to lift; trading is {state}{_others(control)}", data
    return True, f"person's pause lifted; trading is {state}{_others(control)}", data


def release(control: Controller, kind: str, actor: str) -> Result:
    """Lift one guard's hold by name (kill_switch, emergency_stop, safety_file)."""
    if kind not in PERSON_RELEASED:
        own = {k: r for k, (_, r) in HOLD_RULES.items() if k not in PERSON_RELEASED}
        names = ", ".join(sorted(PERSON_RELEASED))
        hint = f"; the {kind} hold is lifted by {own[kind]}" if kind in own else ""
        return False, f"usage: release hold=<{names}>{hint}", {}
    hold_kind: HoldKind = kind  # type: ignore[assignment]
    lifted, _ = control.release(hold_kind, actor)
    if not lifted:
        return False, f"no {kind} hold is set; trading is {control.state.trading_state}{_others(control)}", {}
    live = " Live trading stays off until a person confirms it again." if kind != "safety_file" else ""
    return True, (f"{kind} hold released; trading is {control.state.trading_state}{_others(control)}.{live}"), \
        control.describe()


def register_hold_commands(registry: CommandRegistry, control: Controller) -> None:
    """``release`` (args: hold) for every surface; ``resume`` is registered with the basic commands."""

    async def release_cmd(args: dict[str, str], actor: str) -> Result:
        return release(control, args.get("hold", "").strip(), actor)

    kinds = ", ".join(k for k in get_args(HoldKind) if k in PERSON_RELEASED)
    registry.register("release", release_cmd, f"lift a guard's hold by name ({kinds})")
