"""Optional revenue (`config/revenue.csv`), so unit economics can show AI COGS as a share of it.

Columns: `month` (YYYY-MM), `customer` (empty for revenue not split by customer), `revenue`,
`currency`. No file means no revenue columns, not an error. Errors name file, line and field.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pandas as pd

from ingestion.config.allocation import ConfigFileError, _read_rows, config_dir

REVENUE_COLUMNS = ("month", "customer", "revenue", "currency", "note")


def load_revenue(path: Path | None = None) -> pd.DataFrame | None:
    """Revenue per month (and customer), or None when the file does not exist."""
    path = path or config_dir() / "revenue.csv"
    if not path.exists():
        return None
    rows = []
    for line, row in _read_rows(path, REVENUE_COLUMNS, {"month", "revenue", "currency"}):
        raw_month = row.get("month", "")
        if not re.fullmatch(r"\d{4}-\d{2}(-01)?", raw_month):
            raise ConfigFileError(f"{path} line {line}: month {raw_month!r} is not YYYY-MM")
        raw = row.get("revenue", "")
        try:
            amount = Decimal(raw)
        except InvalidOperation:
            raise ConfigFileError(f"{path} line {line}: revenue {raw!r} is not a number") from None
        if not amount.is_finite() or amount < 0:
            raise ConfigFileError(f"{path} line {line}: revenue {raw!r} is negative")
        currency = row.get("currency", "").upper()
        if not re.fullmatch(r"[A-Z]{3}", currency):
            raise ConfigFileError(
                f"{path} line {line}: currency {row.get('currency', '')!r} is not a "
                "three-letter ISO 4217 code"
            )
        rows.append(
            {
                "month": date(int(raw_month[:4]), int(raw_month[5:7]), 1),
                "customer": row.get("customer") or None,
                "revenue": float(amount),
                "currency": currency,
            }
        )
    return pd.DataFrame(rows, columns=["month", "customer", "revenue", "currency"])
