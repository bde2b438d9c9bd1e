"""Headline sentiment in [-1, 1]: the LLM when available, a transparent lexicon otherwise.

The public face of :mod:`ai_brain.intelligence.sentiment_analyzer`, where the code lives:
this name is where a reader of the architecture looks for it. Code inside ``ai_brain``
imports the real module, never this face.
"""

from ai_brain.intelligence.sentiment_analyzer import (
    NEGATIVE,
    POSITIVE,
    Sentiment,
    SentimentAnalyzer,
    SentimentAnswer,
    lexicon_score,
)

__all__ = [
    "NEGATIVE",
    "POSITIVE",
    "Sentiment",
    "SentimentAnalyzer",
    "SentimentAnswer",
    "lexicon_score",
]
