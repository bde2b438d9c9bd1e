"""Hypotheses: candidate strategies, each with its source and its reasoning in words.

The public face of :mod:`ai_brain.generators.hypothesis_generator`, where the code lives:
this name is where a reader of the architecture looks for it. Code inside ``ai_brain``
imports the real module, never this face.
"""

from ai_brain.generators.hypothesis_generator import (
    GenerationContext,
    Hypothesis,
    HypothesisGenerator,
    Source,
    SourceStats,
    make_id,
)

__all__ = [
    "GenerationContext",
    "Hypothesis",
    "HypothesisGenerator",
    "Source",
    "SourceStats",
    "make_id",
]
