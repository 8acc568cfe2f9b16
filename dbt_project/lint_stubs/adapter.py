"""Stand-in for dbt's `adapter` object when sqlfluff renders models with plain Jinja.

Only used by `make lint`; dbt itself never imports this.
"""


def dispatch(macro_name, macro_namespace=None):
    return lambda *args, **kwargs: "null"


def get_relation(database=None, schema=None, identifier=None):
    return None


def get_columns_in_relation(relation):
    return []
