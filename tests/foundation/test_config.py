"""Config validation: every mistake stops start-up with one line naming the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from src.config import AppConfig, ConfigError, load_config, parse_config
from src.config.secrets import load_secrets

REPO = Path(__file__).resolve().parents[2]


def test_committed_config_is_valid_and_safe() -> None:
    cfg = load_config(REPO / "config.yaml")
    assert cfg.mode == "replay"
    assert cfg.live.allow_live_trading is False


@pytest.mark.parametrize(("data", "names"), [
    ({"risk": {"max_drawdwon_fraction": 0.1}}, ["risk.max_drawdwon_fraction", "unknown key"]),
    ({"replay": {"speed": "fast"}}, ["replay.speed", "'fast'"]),
    ({"paper": {"starting_balance_quote": -5}}, ["paper.starting_balance_quote", "-5", "greater than"]),
    ({"mode": "yolo"}, ["mode", "'yolo'", "replay"]),
    ({"llm": {"provider": "ollama"}}, ["llm.provider", "'ollama'", "openai_compatible"]),
    ({"llm": {"provider": "openai_compatible"}}, ["llm.base_url", "required", "openai_compatible"]),
    ({"llm": {"base_url": "127.0.0.1:11434/v1"}}, ["llm.base_url", "http://"]),
    ({"llm": {"max_output_tokens": 4096, "thinking_budget": 3500}}, ["llm.thinking_budget", "3500",
                                                                     "llm.max_output_tokens", "4096"]),
    ({"llm": {"thinking_budget": -1}}, ["llm.thinking_budget", "-1"]),
])
def test_bad_config_names_key_and_value(data: dict, names: list[str]) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(data)
    msg = str(err.value)
    assert "\n" not in msg
    for name in names:
        assert name in msg


def test_overrides_apply_dotted_keys(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("mode: replay\n")
    cfg = load_config(path, {"replay.speed": 10.0, "mode": "paper"})
    assert cfg.replay.speed == 10.0
    assert cfg.mode == "paper"


def test_invalid_yaml_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("mode: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_config(path)


def test_config_is_frozen() -> None:
    cfg = AppConfig()
    with pytest.raises(ValidationError):
        cfg.mode = "live"  # type: ignore[misc]


@pytest.mark.parametrize("body", ["risk:\n  max_position_fraction: -1\n", "unknown_section: 1\n",
                                  "replay:\n  speed: abc\n"])
def test_entry_point_exits_2_with_one_line(tmp_path: Path, body: str) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(body)
    proc = subprocess.run([sys.executable, str(REPO / "ai_trading_lab.py"), "--config", str(cfg),
                           "--root", str(tmp_path), "--duration", "1"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1
    assert lines[0].startswith("config:")


def test_secrets_from_env_and_dotenv(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("# comment\nTELEGRAM_BOT_TOKEN='123:abc'\nTELEGRAM_CHAT_IDS=1, 2\nGEMINI_API_KEY=from-file\n")
    s = load_secrets(env={"GEMINI_API_KEY": "from-env"}, dotenv=dotenv)
    assert s.telegram_bot_token == "123:abc"
    assert s.telegram_admin_ids == (1, 2)  # the old name, read compatibly: private chat id = user id
    assert s.gemini_api_key == "from-env"
    assert "from-env" not in repr(s)


def test_bad_chat_id_is_named() -> None:
    with pytest.raises(ValueError, match="TELEGRAM_CHAT_IDS: 'abc'"):
        load_secrets(env={"TELEGRAM_CHAT_IDS": "12,abc"})
