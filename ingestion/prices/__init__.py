"""List prices per (provider, model) from genai-prices' bundled data, with local overrides.

Built for the models dbt has seen in the spend data (`int_models_observed`) and landed with dlt
as `raw_reference.price_book` (source.py) for the SQL model `int_price_book`; see README.md.
"""

from ingestion.prices.book import (
    FLOOR,
    PRICE_BOOK_COLUMNS,
    PRICE_BOOK_SQL_TYPES,
    PROVIDER_IDS,
    Match,
    price_book_frame,
    price_book_rows,
    resolve_model,
)
from ingestion.prices.overrides import (
    OVERRIDE_COLUMNS,
    PROVIDERS,
    SERVICE_TIERS,
    TOKEN_CLASSES,
    Override,
    PriceOverrideError,
    load_overrides,
)

__all__ = [
    "FLOOR",
    "OVERRIDE_COLUMNS",
    "PRICE_BOOK_COLUMNS",
    "PRICE_BOOK_SQL_TYPES",
    "PROVIDERS",
    "PROVIDER_IDS",
    "SERVICE_TIERS",
    "TOKEN_CLASSES",
    "Match",
    "Override",
    "PriceOverrideError",
    "load_overrides",
    "price_book_frame",
    "price_book_rows",
    "resolve_model",
]
