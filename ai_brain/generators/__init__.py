"""Hypothesis sources: built-in family templates, genetic search over the rule form, and the LLM."""
