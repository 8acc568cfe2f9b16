"""Small PNG charts for the Dagster UI's asset metadata (drawn off-screen with matplotlib)."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")  # no display on servers and in CI

import matplotlib.pyplot as plt
import pandas as pd


def _png(fig: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def markdown_image(png: bytes, alt: str) -> str:
    """Markdown that shows the PNG inline (the Dagster UI renders data: URLs)."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


def forecast_chart(
    history: pd.Series,
    forecast: pd.DataFrame,
    title: str,
    budget_daily: float | None = None,
) -> bytes:
    """Daily actuals, the forecast and its 80 %/95 % bands."""
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.plot(history.index, history.to_numpy(), color="#1f3b73", lw=1.2, label="actual")
    if not forecast.empty:
        days = pd.to_datetime(forecast["day"])
        ax.fill_between(
            days, forecast["yhat_lower_95"], forecast["yhat_upper_95"], color="#f4a259", alpha=0.2
        )
        ax.fill_between(
            days, forecast["yhat_lower_80"], forecast["yhat_upper_80"], color="#f4a259", alpha=0.4
        )
        ax.plot(days, forecast["yhat"], color="#c8553d", lw=1.2, label="forecast (80/95 %)")
    if budget_daily:
        ax.axhline(budget_daily, color="#888", ls="--", lw=0.8, label="budget / day")
    ax.set_title(title, fontsize=10)
    ax.set_ylabel("USD / day")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    return _png(fig)


def anomaly_chart(scored: pd.DataFrame, title: str) -> bytes:
    """Actual against expected with the flagged days marked."""
    fig, ax = plt.subplots(figsize=(8, 3))
    days = pd.to_datetime(scored["day"])
    ax.plot(days, scored["actual"], color="#1f3b73", lw=1.2, label="actual")
    ax.plot(days, scored["expected"], color="#888", lw=1.0, ls="--", label="expected")
    if {"lower", "upper"} <= set(scored.columns):
        ax.fill_between(days, scored["lower"], scored["upper"], color="#bbb", alpha=0.3)
    flagged = scored[scored["is_anomaly"].astype(bool)]
    ax.scatter(
        pd.to_datetime(flagged["day"]),
        flagged["actual"],
        color="#c8553d",
        s=18,
        zorder=3,
        label="anomaly",
    )
    ax.set_title(title, fontsize=10)
    ax.set_ylabel("USD / day")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    return _png(fig)
