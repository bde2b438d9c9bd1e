"""Strategy specs: JSON round trip, families, and clear errors for bad input."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from src.strategy.spec import FAMILY_NAMES, StrategySpec, family_spec


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_families_round_trip_through_json(family):
    spec = family_spec(family, short=True, stop_atr=2.0, trailing=[{"trigger_r": 1.0, "lock_r": 0.0}],
                       partial_tp=[{"at_r": 1.0, "fraction": 0.3}])
    assert StrategySpec.model_validate_json(spec.model_dump_json()) == spec
    assert spec.type == family


def test_plain_sma_cross_is_long_only_cross_up_and_down():
    spec = family_spec("momentum", fast="10", slow="50", ma="sma")
    (entry,) = spec.rules.entry_long
    assert (entry.left.name, entry.left.period, entry.op, entry.right.period) == ("sma", 10, "crosses_above", 50)
    assert spec.rules.entry_short == []
    assert spec.rules.exit_long[0].op == "crosses_below"


def test_json_schema_is_plain_json():
    schema = StrategySpec.model_json_schema()
    json.dumps(schema)
    assert "rules" in schema["properties"]
    assert "risk" in schema["properties"]


def _errors(exc: ValidationError) -> str:
    return " ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())


def test_unknown_indicator_names_the_field():
    body = json.loads(family_spec("momentum").model_dump_json())
    body["rules"]["entry_long"][0]["left"]["name"] = "magic_line"
    with pytest.raises(ValidationError) as exc:
        StrategySpec.model_validate(body)
    assert "rules.entry_long.0.left.name" in _errors(exc.value)


def test_slow_not_above_fast_is_rejected():
    with pytest.raises(ValidationError, match=r"slow \(10\) must be greater than fast \(10\)"):
        family_spec("momentum", fast=10, slow=10)


def test_negative_stop_names_the_field():
    with pytest.raises(ValidationError) as exc:
        family_spec("breakout", stop_atr=-1.0)
    assert "risk.stop_atr" in _errors(exc.value)


@pytest.mark.parametrize("field", ["fast", "stop_atr", "leverage"])
def test_nan_is_rejected(field):
    with pytest.raises(ValidationError) as exc:
        family_spec("momentum", **{field: float("nan")})
    assert field in _errors(exc.value)
    assert "finite" in _errors(exc.value)


def test_unknown_field_and_family_are_rejected():
    body = json.loads(family_spec("momentum").model_dump_json())
    body["risk"]["yolo"] = True
    with pytest.raises(ValidationError) as exc:
        StrategySpec.model_validate(body)
    assert "risk.yolo" in _errors(exc.value)
    with pytest.raises(ValidationError, match="colour"):
        family_spec("momentum", colour="red")
    with pytest.raises(ValueError, match="unknown family"):
        family_spec("astrology")


def test_r_based_genes_need_a_stop_and_increasing_levels():
    with pytest.raises(ValidationError, match="need stop_atr > 0"):
        family_spec("breakout", partial_tp=[{"at_r": 1.0, "fraction": 0.5}])
    with pytest.raises(ValidationError, match="strictly increasing"):
        family_spec("breakout", stop_atr=1.0, trailing=[{"trigger_r": 2.0, "lock_r": 0.0},
                                                        {"trigger_r": 1.0, "lock_r": 0.0}])
    with pytest.raises(ValidationError, match="sum below 1"):
        family_spec("breakout", stop_atr=1.0, partial_tp=[{"at_r": 1.0, "fraction": 0.6},
                                                          {"at_r": 2.0, "fraction": 0.6}])


def test_condition_needs_exactly_one_right_side():
    body = json.loads(family_spec("momentum").model_dump_json())
    body["rules"]["entry_long"][0]["threshold"] = 3.0
    with pytest.raises(ValidationError, match="exactly one of right or threshold"):
        StrategySpec.model_validate(body)
