"""Keys that were removed from the config stop start-up with a line that names them and says why."""

from __future__ import annotations

import pytest

from src.config import ConfigError, parse_config


@pytest.mark.parametrize("key", ["replay_approval_requires_evaluator_pass", "approval_requires_evaluator_pass"])
def test_a_removed_approval_key_is_named_in_one_line(key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"brain": {"lifecycle": {key: False}}})
    line = str(err.value)
    assert f"brain.lifecycle.{key}" in line
    assert "removed" in line
    assert "\n" not in line
    assert "replay_demo_approvals" in line


def test_the_demo_flag_is_off_by_default() -> None:
    assert parse_config({}).brain.lifecycle.replay_demo_approvals is False
