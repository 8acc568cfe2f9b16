-- The dated list-price book for every observed model: genai-prices' bundled data (never updated
-- over the network at run time) plus config/price_overrides.csv (negotiated discounts, custom
-- and fine-tuned models). Built in Python from int_models_observed and landed by dlt as
-- raw_reference.price_book (ingestion/prices/source.py, Dagster asset raw_reference/price_book);
-- a model that neither prices has no rows here and is `unpriced` in the fact.
with

source as (

    select * from {{ source_or_empty('raw_reference', 'price_book', raw_columns__raw_reference__price_book()) }}

),

final as (

    select
        cast(provider as varchar) as provider,
        cast(model as varchar) as model,
        cast(token_class as varchar) as token_class,
        cast(service_tier as varchar) as service_tier,
        cast(tier_min_input_tokens as bigint) as tier_min_input_tokens,
        cast(valid_from as date) as valid_from,
        cast(valid_to as date) as valid_to,
        cast(usd_per_million as {{ money_type() }}) as usd_per_million,
        cast(unit as varchar) as unit,
        cast(price_source as varchar) as price_source,
        cast(matched_model_id as varchar) as matched_model_id,
        cast(matched_provider_id as varchar) as matched_provider_id,
        cast(override_id as varchar) as override_id,
        cast(note as varchar) as note

    from source

)

select * from final
