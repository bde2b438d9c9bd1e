"""The double gate for live money, and one-time codes for every action that needs a second step.

Going live needs two independent yeses: ``live.allow_live_trading: true`` in the config (a file a
person edited on purpose) AND a person confirming now, with a code the bot issued a moment ago.
The same one-time codes guard ``/stop flatten`` and approvals that would trade real money at once.

Codes are short (6 digits) so they can be typed on a phone, so they are also fragile on purpose:
bound to the person who asked, single use, expire after ``ttl_s`` (60 s by default), and a few
wrong guesses cancel the pending action. Telegram, the script inbox and ``scripts/go_live.py`` all
go through :class:`GoLiveGate`, so there is exactly one set of rules.

Through the inbox the code travels in a file any local process can read, so there the request
must also carry the phrase the person typed (``typed=GO LIVE``) and a ``binding``: the SHA-256 of
a secret only the requesting script holds. The confirmation must show that secret (``proof``);
the code read from the outbox alone confirms nothing.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from src.config import AppConfig
from src.config.secrets import Secrets
from src.core.errors import LabError
from src.state.control import Controller
from src.state.inbox import CommandRegistry
from src.state.live import LivePolicy

log = logging.getLogger(__name__)

Result = tuple[bool, str, dict[str, Any]]
GOLIVE = "golive"
TYPED_PHRASE = "GO LIVE"  # what a person types in scripts/go_live.py; the inbox request carries it
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def live_policy(config: AppConfig, secrets: Secrets) -> LivePolicy:
    """What the Controller checks a stored confirmation against at start (the live trading key)."""
    return LivePolicy(allow_live_trading=config.live.allow_live_trading, api_key=secrets.exchange_api_key,
                      max_age_s=config.live.confirmation_max_age_hours * 3600.0)


def binding_of(secret: str) -> str:
    """The public half of an inbox go-live request: SHA-256 of the requester's secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


class ConfirmError(LabError):
    """A confirmation that must not go through; the message says why, for the person who typed it."""


@dataclass(frozen=True)
class PendingAction:
    """An action waiting for its code: what, for whom, with which arguments, until when."""

    code: str
    action: str
    actor: str
    args: dict[str, str] = field(default_factory=dict)
    expires_at: float = 0.0


class ConfirmationCodes:
    """One pending action per actor, redeemable once, by that actor, before it expires."""

    def __init__(self, ttl_s: float = 60.0, max_attempts: int = 3,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.max_attempts = max_attempts
        self._monotonic = monotonic
        self._pending: dict[str, PendingAction] = {}
        self._wrong: dict[str, int] = {}

    def issue(self, action: str, actor: str, args: dict[str, str] | None = None) -> PendingAction:
        """Create a fresh code for ``actor``; any earlier pending action of theirs is replaced."""
        code = f"{secrets.randbelow(1_000_000):06d}"
        pending = PendingAction(code, action, actor, dict(args or {}), self._monotonic() + self.ttl_s)
        self._pending[actor] = pending
        self._wrong[actor] = 0
        return pending

    def pending(self, actor: str) -> PendingAction | None:
        """The live pending action of ``actor`` (expired ones are forgotten here)."""
        found = self._pending.get(actor)
        if found is not None and self._monotonic() >= found.expires_at:
            self._forget(actor)
            return None
        return found

    def cancel(self, actor: str) -> bool:
        return self._forget(actor) is not None

    def redeem(self, code: str, actor: str, action: str | None = None) -> PendingAction:
        """Consume ``actor``'s pending action if ``code`` matches; raise :class:`ConfirmError` otherwise."""
        found = self._pending.get(actor)
        if found is None:
            raise ConfirmError("nothing is waiting for a confirmation from you")
        if self._monotonic() >= found.expires_at:
            self._forget(actor)
            raise ConfirmError(f"the code for {found.action} expired; ask again")
        if action is not None and found.action != action:
            raise ConfirmError(f"your pending code is for {found.action}, not {action}")
        if not secrets.compare_digest(code.strip().encode(), found.code.encode()):
            return self._wrong_code(actor, found)
        self._forget(actor)
        return found

    def _wrong_code(self, actor: str, found: PendingAction) -> PendingAction:
        self._wrong[actor] = self._wrong.get(actor, 0) + 1
        left = self.max_attempts - self._wrong[actor]
        log.warning("wrong confirmation code for %s from %s (%d attempts left)", found.action, actor, max(left, 0))
        if left <= 0:
            self._forget(actor)
            raise ConfirmError(f"wrong code; {found.action} cancelled after {self.max_attempts} wrong attempts")
        raise ConfirmError(f"wrong code; {left} attempt(s) left")

    def _forget(self, actor: str) -> PendingAction | None:
        self._wrong.pop(actor, None)
        return self._pending.pop(actor, None)


def live_blockers(config: AppConfig) -> list[str]:
    """Why the config half of the gate is closed (empty when it is open)."""
    out: list[str] = []
    if not config.live.allow_live_trading:
        out.append("config live.allow_live_trading is false")
    if config.mode != "live":
        out.append(f"the bot runs in {config.mode} mode; live needs mode: live")
    return out


class GoLiveGate:
    """Request → code → confirm; records the person's yes through the Controller, never on its own."""

    def __init__(self, config: AppConfig, control: Controller, codes: ConfirmationCodes,
                 describe: Callable[[], dict[str, Any]] | None = None) -> None:
        self.config = config
        self.control = control
        self.codes = codes
        self._describe = describe or (lambda: {})

    def request(self, actor: str, binding: str = "") -> Result:
        """First step: refuse if config forbids live, else issue a one-time code for ``actor``.

        ``binding`` (inbox requests) ties the code to a secret the requester keeps: see the module.
        """
        if self.control.state.live_confirmed:
            return False, "live trading is already confirmed; /paper drops back to paper", {}
        blockers = live_blockers(self.config)
        if blockers:
            return False, "cannot go live: " + "; ".join(blockers), {"blockers": blockers}
        pending = self.codes.issue(GOLIVE, actor, {"binding": binding} if binding else None)
        ttl = int(self.codes.ttl_s)
        log.warning("go-live requested by %s; code issued, valid %d s", actor, ttl)
        data = {"code": pending.code, "expires_in_s": ttl, "would_go_live": self._describe()}
        return True, f"to trade REAL money, confirm within {ttl} s with: /confirm {pending.code}", data

    def confirm(self, actor: str, code: str, proof: str | None = None) -> Result:
        """Second step: the code must match (and the request's secret, if it was bound to one) and the
        config must still allow live right now."""
        try:
            pending = self.codes.redeem(code, actor, GOLIVE)
        except ConfirmError as exc:
            return False, f"not live: {exc}", {}
        binding = pending.args.get("binding", "")
        if binding and not secrets.compare_digest(binding_of(proof or ""), binding):
            log.warning("go-live confirmation from %s without the request's secret: refused", actor)
            return False, "not live: this confirmation is not bound to the request (proof missing or wrong); " \
                          "ask again", {}
        return self.complete(actor)

    def complete(self, actor: str) -> Result:
        """Record the confirmation after a redeemed code; re-checks the config half of the gate."""
        blockers = live_blockers(self.config)
        if blockers:
            return False, "cannot go live: " + "; ".join(blockers), {"blockers": blockers}
        state = self.control.confirm_live(actor)
        log.critical("LIVE trading confirmed by %s", actor)
        return True, "LIVE trading confirmed: approved strategies now trade real money", {
            "live_confirmed_at": state.live_confirmed_at}

    def revoke(self, actor: str) -> Result:
        """Back to paper at once; needs no code (making things safer never does)."""
        was = self.control.state.live_confirmed
        self.codes.cancel(actor)
        self.control.revoke_live(actor)
        return True, "paper trading: live confirmation revoked" + ("" if was else " (was not live)"), {}


def register_golive_commands(registry: CommandRegistry, gate: GoLiveGate) -> None:
    """``golive_request`` / ``golive_confirm`` (args: code) / ``paper`` for every surface."""

    async def golive_request(args: dict[str, str], actor: str) -> Result:
        problem = _typed_problem(args) or _binding_problem(args.get("binding", ""))
        if problem:
            return False, problem, {}
        return gate.request(actor, binding=args["binding"])

    async def golive_confirm(args: dict[str, str], actor: str) -> Result:
        code, proof = args.get("code", ""), args.get("proof", "")
        if not code or not proof:
            return False, "usage: golive_confirm code=<code> proof=<the secret bound in golive_request> " \
                          f"typed='{TYPED_PHRASE}'", {}
        problem = _typed_problem(args)
        return (False, problem, {}) if problem else gate.confirm(actor, code, proof)

    async def paper(_args: dict[str, str], actor: str) -> Result:
        return gate.revoke(actor)

    registry.register("golive_request", golive_request,
                      f"first step of going live (args typed='{TYPED_PHRASE}', binding=<sha256 of a secret>)")
    registry.register("golive_confirm", golive_confirm, "second step: confirm going live with the code")
    registry.register("paper", paper, "drop back to paper trading at once")


def _typed_problem(args: dict[str, str]) -> str:
    if args.get("typed", "").strip() != TYPED_PHRASE:
        return (f"going live from a script needs the person's typed confirmation (typed='{TYPED_PHRASE}'); "
                "use scripts/go_live.py")
    return ""


def _binding_problem(binding: str) -> str:
    if not _SHA256_HEX.fullmatch(binding):
        return "golive_request needs binding=<sha256 hex of a secret only the requester keeps>"
    return ""
