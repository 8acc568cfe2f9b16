"""Decisions from the marts: unit economics, forecasts, backtests, anomalies and budgets.

Plain functions over pandas frames; the Dagster assets in orchestration/defs/analytics.py
only wire them.
"""
