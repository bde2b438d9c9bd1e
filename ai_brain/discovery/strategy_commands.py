"""Strategy commands shared by Telegram and the script inbox: list, show, approve, reject, suspend, retire.

Handlers take ``(args, actor)`` and answer ``(ok, message, data)``; bad input (missing id,
unknown id, an illegal move) is answered with a clear message and changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ai_brain.discovery.lifecycle import DEMO
from ai_brain.discovery.strategy_store import (
    Approval,
    IllegalTransition,
    StrategyRecord,
    StrategyStore,
    UnknownStrategy,
)
from src.core.enums import MONEY_STATUSES
from src.core.events import Alert
from src.state.inbox import CommandRegistry

Answer = tuple[bool, str, dict[str, Any]]

_SUSPEND_TO = {"live": "dry_run", "scaling": "dry_run", "approved": "dry_run",
               "dry_run": "backtested", "awaiting_approval": "backtested"}


def summary(rec: StrategyRecord) -> dict[str, Any]:
    """A short, JSON-safe view of one strategy (for lists and chat messages)."""
    oos = rec.performance.out_of_sample or {}
    return {"id": rec.id, "name": rec.name, "type": rec.type, "status": rec.status,
            "symbol": rec.spec.symbols[0], "timeframe": rec.spec.timeframe,
            "generator": rec.source.generator, "score": rec.verdict.score if rec.verdict else None,
            "oos_return": oos.get("total_return"), "oos_trades": oos.get("trades"),
            "proven": bool(rec.verdict and rec.verdict.passed), "updated_at": rec.updated_at}


def _need(args: dict[str, str], key: str, usage: str) -> str:
    value = (args.get(key) or "").strip()
    if not value:
        raise ValueError(f"missing {key}; usage: {usage}")
    return value


class StrategyCommands:
    """Registers the strategy commands on a :class:`CommandRegistry`."""

    def __init__(self, store: StrategyStore, publish: Any = None) -> None:
        self.store = store
        self._publish = publish or (lambda _ev: None)

    def register(self, registry: CommandRegistry) -> None:
        registry.register("strategies", self.strategies, "strategies [status|testing|active|retired]")
        registry.register("strategy", self.strategy, "strategy ID — one strategy in full")
        registry.register("approve", self.approve, "approve ID [reason] — approve a strategy awaiting approval")
        registry.register("reject", self.reject, "reject ID REASON — reject a strategy")
        registry.register("suspend", self.suspend, "suspend ID [reason] — take a strategy back one step")
        registry.register("retire", self.retire, "retire ID REASON — retire a strategy for good")

    async def _guarded(self, fn, args: dict[str, str], actor: str) -> Answer:
        try:
            return fn(args, actor)
        except (UnknownStrategy, IllegalTransition, ValueError) as exc:
            return False, str(exc), {}

    async def strategies(self, args: dict[str, str], actor: str) -> Answer:
        def run(a: dict[str, str], _actor: str) -> Answer:
            status = (a.get("status") or a.get("arg") or "").strip() or None
            recs = self.store.list(status)
            counts = self.store.counts()
            head = ", ".join(f"{k} {v}" for k, v in counts.items() if v) or "no strategies yet"
            lines = [f"{r.id} [{r.status}] {r.spec.symbols[0]} score "
                     f"{(r.verdict.score if r.verdict else float('nan')):.3f}" for r in recs[-30:]]
            return True, head + ("\n" + "\n".join(lines) if lines else ""), {
                "counts": counts, "strategies": [summary(r) for r in recs]}
        return await self._guarded(run, args, actor)

    async def strategy(self, args: dict[str, str], actor: str) -> Answer:
        def run(a: dict[str, str], _actor: str) -> Answer:
            rec = self.store.get(_need(a, "id", "strategy ID"))
            last = rec.history[-1]
            text = (f"{rec.name} ({rec.id}) is {rec.status} since {last.at} ({last.reason}). "
                    f"Source: {rec.source.generator} — {rec.source.reasoning}")
            return True, text, {"strategy": rec.model_dump(mode="json")}
        return await self._guarded(run, args, actor)

    async def approve(self, args: dict[str, str], actor: str) -> Answer:
        def run(a: dict[str, str], who: str) -> Answer:
            sid = _need(a, "id", "approve ID [reason]")
            reason = a.get("reason", "").strip() or "approved"
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            rec = self.store.get(sid)
            prov = rec.provenance.model_copy(update={"approval": Approval(by=who, at=now, reason=reason)})
            rec = self.store.transition(sid, "approved", who, reason, provenance=prov, approved_at=now)
            note = "" if rec.verdict and rec.verdict.passed else (
                f" {DEMO}: its evaluation did not pass every gate, so it stays on paper.")
            return True, f"{sid} approved by {who}; it goes live only through the live gate.{note}", summary(rec)
        return await self._guarded(run, args, actor)

    async def reject(self, args: dict[str, str], actor: str) -> Answer:
        def run(a: dict[str, str], who: str) -> Answer:
            sid = _need(a, "id", "reject ID REASON")
            reason = _need(a, "reason", "reject ID REASON")
            rec = self.store.transition(sid, "rejected", who, reason)
            return True, f"{sid} rejected: {reason}", summary(rec)
        return await self._guarded(run, args, actor)

    async def suspend(self, args: dict[str, str], actor: str) -> Answer:
        def run(a: dict[str, str], who: str) -> Answer:
            sid = _need(a, "id", "suspend ID [reason]")
            rec = self.store.get(sid)
            target = _SUSPEND_TO.get(rec.status)
            if target is None:
                return False, f"{sid} is {rec.status}; nothing to suspend", {}
            rec = self.store.transition(sid, target, who, a.get("reason", "").strip() or "suspended by a person")
            return True, f"{sid} suspended: now {target}", summary(rec)
        return await self._guarded(run, args, actor)

    async def retire(self, args: dict[str, str], actor: str) -> Answer:
        def run(a: dict[str, str], who: str) -> Answer:
            sid = _need(a, "id", "retire ID REASON")
            reason = _need(a, "reason", "retire ID REASON")
            was = self.store.get(sid).status
            rec = self.store.transition(sid, "retired", who, reason)
            if was in MONEY_STATUSES:
                self._publish(Alert("warning", f"Strategy retired: {sid}", f"{reason} (by {who})",
                                    key=f"retired:{sid}"))
            return True, f"{sid} retired: {reason}", summary(rec)
        return await self._guarded(run, args, actor)

