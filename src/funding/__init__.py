"""Funding-rate carry: the decision rule (carry.py), its backtest (backtest.py) and the runner (runner.py)."""
