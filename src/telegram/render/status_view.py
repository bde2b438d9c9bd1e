"""The /status message and the hourly status, built with :func:`templates.status` from the shared
status command's snapshot: state and equity in the first line, every hold on its own line with
who set it, why, since when and how it is lifted, then data quality, guards and troubled tasks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from src.telegram.render import templates
from src.telegram.render.format import Message
from src.telegram.render.reports import data_quality, duration, guards_line, uptime_s

STATE_WORDS = {"reducing": "paused (exits only)", "halted": "HALTED"}


def run_state(control: Mapping[str, Any]) -> str:
    """One word for the title: running, paused (exits only), HALTED or stopping."""
    if control.get("stop_requested"):
        return "stopping"
    if control.get("holds"):
        return STATE_WORDS.get(str(control.get("trading_state")), str(control.get("trading_state", "held")))
    if control.get("halted"):
        return "HALTED"
    return "paused (exits only)" if control.get("paused") else "running"


def hold_lines(control: Mapping[str, Any]) -> list[str]:
    """One line per hold: what, who, why, since when (plain text; the template escapes it)."""
    out = []
    for h in control.get("holds") or []:
        since = str(h.get("since") or "")[:16].replace("T", " ")
        out.append(f"⏸ hold {h.get('kind')} by {h.get('by')}: {h.get('reason') or 'no reason given'}"
                   + (f" (since {since} UTC)" if since else ""))
    return out


def status_message(mode: str, snap: Mapping[str, Any], counts: Mapping[str, int], equity: float | None,
                   quote: str, positions: int | None, today_pnl: float | None) -> Message:
    """The status template fed from the snapshot (HTML, figures rounded by the template)."""
    control = snap.get("control", {}) or {}
    heartbeat = snap.get("heartbeat", {}) or {}
    up = uptime_s(heartbeat)
    live = control.get("live_confirmed")
    details = [*hold_lines(control),
               f"Live: {'CONFIRMED by ' + str(control.get('live_confirmed_by')) if live else 'no'}",
               f"Uptime: {duration(up) if up is not None else '?'}",
               f"Data quality: {data_quality(snap)}",
               f"Guards tripped: {guards_line(snap, control)}"]
    evaluator = snap.get("evaluator")
    if isinstance(evaluator, Mapping) and evaluator.get("state"):
        details.append(f"Evaluator: {evaluator['state']}")
    tasks = heartbeat.get("tasks", {}) or {}
    troubled = [f"{n} {t.get('state')}" for n, t in tasks.items() if t.get("state") not in ("running", "done")]
    if troubled:
        details.append("Tasks: " + ", ".join(troubled))
    return templates.status(f"{mode} mode", run_state(control), equity, quote, positions, today_pnl,
                            counts or None, details)
