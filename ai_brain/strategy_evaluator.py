"""The judge: backtest with costs, a selection segment and a test segment, significance, verdict.

The public face of :mod:`ai_brain.evaluation.strategy_evaluator`, where the code lives:
this name is where a reader of the architecture looks for it. Code inside ``ai_brain``
imports the real module, never this face.
"""

from ai_brain.evaluation.strategy_evaluator import (
    NOT_ENOUGH_EVIDENCE,
    Check,
    Evaluation,
    Significance,
    WindowFigures,
    candidate_set_pbo,
    evaluate,
    ranking_score,
)

__all__ = [
    "NOT_ENOUGH_EVIDENCE",
    "Check",
    "Evaluation",
    "Significance",
    "WindowFigures",
    "candidate_set_pbo",
    "evaluate",
    "ranking_score",
]
