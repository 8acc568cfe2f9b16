"""The dated list-price book for every observed model: genai-prices' bundled data (never updated
over the network at run time) plus config/price_overrides.csv (negotiated discounts, custom and
fine-tuned models). A model that neither prices has no rows here and is `unpriced` in the fact.
"""

from ingestion.config import config_dir
from ingestion.prices import load_overrides, price_book_frame


def model(dbt, session):
    dbt.config(materialized="table")
    observed = dbt.ref("int_models_observed").fetchall()
    overrides = load_overrides(config_dir() / "price_overrides.csv")
    return price_book_frame([(provider, model) for provider, model in observed], overrides)
