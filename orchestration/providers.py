"""Where each provider's data comes from: the real API when its key is set, else the simulator.

Keys are read from the environment at run time and only ever passed to the HTTP client; they
are not logged and not stored in any asset metadata.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from dlt.sources import DltSource

from ingestion.anthropic import DEFAULT_BASE_URL as ANTHROPIC_URL
from ingestion.anthropic import anthropic_source
from ingestion.openai import DEFAULT_BASE_URL as OPENAI_URL
from ingestion.openai import openai_source
from orchestration.settings import Settings


@dataclass(frozen=True)
class ProviderSpec:
    name: str
    key_env: str
    url_env: str
    default_url: str
    source_factory: Callable[..., DltSource]


PROVIDERS: dict[str, ProviderSpec] = {
    "openai": ProviderSpec(
        "openai", "OPENAI_ADMIN_KEY", "OPENAI_BASE_URL", OPENAI_URL, openai_source
    ),
    "anthropic": ProviderSpec(
        "anthropic", "ANTHROPIC_ADMIN_KEY", "ANTHROPIC_BASE_URL", ANTHROPIC_URL, anthropic_source
    ),
}


@dataclass(frozen=True)
class Endpoint:
    provider: str
    base_url: str
    api_key: str = field(repr=False)
    simulated: bool

    def describe(self) -> str:
        return f"{self.provider}: {'simulator' if self.simulated else self.base_url}"


@dataclass
class Endpoints:
    """The endpoints of one run, plus the simulator if one had to be started."""

    by_provider: dict[str, Endpoint]
    simulator: Any = None

    def source(self, provider: str, settings: Settings, *, backfill: bool = False) -> DltSource:
        endpoint = self.by_provider[provider]
        return PROVIDERS[provider].source_factory(
            api_key=endpoint.api_key,
            base_url=endpoint.base_url,
            start_date=settings.start_date,
            end_date=settings.end_date,
            lookback_days=settings.lookback_days,
            backfill=backfill,
        )


@contextmanager
def open_endpoints(settings: Settings, env: Mapping[str, str] | None = None) -> Iterator[Endpoints]:
    """Yield the endpoints for the enabled providers, starting the simulator if any needs it."""
    env = os.environ if env is None else env
    real: dict[str, Endpoint] = {}
    simulated: list[str] = []
    for name in settings.providers:
        spec = PROVIDERS[name]
        key = env.get(spec.key_env, "").strip()
        if key:
            url = env.get(spec.url_env, "").strip() or spec.default_url
            real[name] = Endpoint(name, url, key, simulated=False)
        else:
            simulated.append(name)

    if not simulated:
        yield Endpoints(real)
        return

    from ingestion.simulator import SimConfig, Simulator

    config = SimConfig(
        seed=settings.simulator_seed, start=settings.start_date, end=settings.end_date
    )
    with Simulator(config) as sim:
        urls = {"openai": sim.openai_base_url, "anthropic": sim.anthropic_base_url}
        keys = {"openai": config.openai_key, "anthropic": config.anthropic_key}
        sims = {n: Endpoint(n, urls[n], keys[n], simulated=True) for n in simulated}
        yield Endpoints({**real, **sims}, simulator=sim)
