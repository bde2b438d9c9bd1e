"""/show_config, /version and /health: what a person asks when something looks off.

/show_config prints the running configuration with anything that looks like a secret redacted
(and every value of :class:`~src.config.secrets.Secrets` replaced wherever it appears), plus
which secrets are set (never their values). /health turns the status snapshot into one verdict.
"""

from __future__ import annotations

import importlib.metadata
import platform
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from src.config import AppConfig, Secrets
from src.telegram.render.format import Message, esc

SECRET_KEY = re.compile(r"(secret|token|password|passwd|api_?key|private)", re.IGNORECASE)
REDACTED = "***"
MONEY_SECTIONS = ("risk", "live", "paper")
PACKAGES = ("ccxt", "python-telegram-bot", "google-genai", "pydantic", "numpy")


def redact(data: Any, secrets: list[str]) -> Any:
    """``data`` with secret-looking keys and every known secret value replaced by ``***``."""
    if isinstance(data, Mapping):
        return {k: REDACTED if SECRET_KEY.search(str(k)) and v not in ("", None) else redact(v, secrets)
                for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [redact(v, secrets) for v in data]
    if isinstance(data, str):
        for s in secrets:
            data = data.replace(s, REDACTED)
    return data


def _flatten(data: Any, prefix: str = "") -> list[str]:
    if isinstance(data, Mapping):
        out: list[str] = []
        for k, v in data.items():
            out += _flatten(v, f"{prefix}{k}.")
        return out
    return [f"{prefix[:-1]} = {data}"]


def show_config(config: AppConfig, secrets: Secrets, section: str | None = None) -> Message:
    """The configuration as ``section.key = value`` lines (one section if asked), secrets redacted."""
    data = redact(config.model_dump(mode="json"), secrets.values())
    sections = [k for k, v in data.items() if isinstance(v, Mapping)]
    if section:
        data = {section: data.get(section, "unknown section")}
    else:  # the money-relevant sections; the rest on request, so the answer stays one message
        data = {k: v for k, v in data.items() if not isinstance(v, Mapping) or k in MONEY_SECTIONS}
    present = {"exchange key": bool(secrets.exchange_api_key), "testnet key": bool(secrets.testnet_api_key),
               "telegram token": bool(secrets.telegram_bot_token), "gemini key": bool(secrets.gemini_api_key)}
    lines = ["Secrets: " + ", ".join(f"{k} {'set' if v else 'not set'}" for k, v in present.items())]
    lines += [f"<code>{esc(line)}</code>" for line in _flatten(data)]
    if not section:
        lines.append("More: <code>/show_config SECTION</code> with one of " + esc(", ".join(sections)))
    return Message(f"⚙️ Config: {esc(config.mode)} mode, quote {esc(config.quote)}", lines)


def git_revision(root: Path) -> str:
    """The checked-out commit, or "unknown" (a deploy may be a copy without .git)."""
    try:
        out = subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty", "--tags"],
                             capture_output=True, text=True, timeout=3, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def version(root: Path) -> Message:
    """Project version and commit, Python, and the versions of the clients that talk to the outside."""
    try:
        own = importlib.metadata.version("ai-trading-lab")
    except importlib.metadata.PackageNotFoundError:
        own = _pyproject_version(root)
    lines = [f"Commit: <code>{esc(git_revision(root))}</code>", f"Python {esc(platform.python_version())}"]
    for name in PACKAGES:
        try:
            lines.append(f"{esc(name)} {esc(importlib.metadata.version(name))}")
        except importlib.metadata.PackageNotFoundError:
            lines.append(f"{esc(name)} not installed")
    return Message(f"🏷 AI Trading Lab {esc(own)}", lines)


def _pyproject_version(root: Path) -> str:
    try:
        text = (root / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return "unknown"
    found = re.search(r'^version\s*=\s*"([^"]+)"', text, re.MULTILINE)
    return found.group(1) if found else "unknown"


def health(snap: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> Message:
    """One verdict from the status snapshot: tasks, restarts, halts, data quality and Telegram delivery."""
    problems: list[str] = []
    heartbeat = snap.get("heartbeat") or {}
    tasks = heartbeat.get("tasks") or {}
    for name, t in sorted(tasks.items()):
        if t.get("state") not in ("running", "done"):
            problems.append(f"task {name} is {t.get('state')}")
    restarts = sum(int(t.get("restarts", 0)) for t in tasks.values())
    control = snap.get("control") or {}
    if control.get("halted"):
        problems.append(f"halted: {control.get('halted_reason')}")
    risk = snap.get("risk") or {}
    kill = risk.get("kill_switch") if isinstance(risk, Mapping) else None
    if isinstance(kill, Mapping) and kill.get("tripped"):
        problems.append("kill switch tripped")
    for name, value in (extra or {}).items():
        if value:
            problems.append(f"{name}: {value}")
    lines = [f"Tasks: {len(tasks)}, restarts: {restarts}"] + [f"• {esc(p)}" for p in problems]
    title = "✅ Healthy" if not problems else f"⚠️ {len(problems)} problem(s)"
    return Message(f"{title} · {len(tasks)} tasks running", lines)
