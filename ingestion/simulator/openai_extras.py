"""The rest of an OpenAI bill: embeddings, moderations, images, audio, vector stores and code
interpreter sessions, with their Usage API endpoints and their Costs API line items.

Each project uses a deterministic slice of these per day (scaled like its completions), so that
every dollar the Costs API reports has a usage endpoint that explains it, as for real.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

TEN_DP = Decimal("1e-10")
EMBEDDING_MODEL = "text-embedding-3-small"
MODERATION_MODEL = "omni-moderation-latest"
IMAGE_MODEL = "dall-e-3"
TTS_MODEL = "tts-1"
TRANSCRIBE_MODEL = "whisper-1"
GIB = 1024**3

# USD per unit (simulator list prices; moderations are free so they have no cost line)
UNIT_PRICES = {
    "embeddings": Decimal("0.02") / 1_000_000,  # per token
    "images": Decimal("0.04"),  # per 1024x1024 standard image
    "audio_speeches": Decimal("15") / 1_000_000,  # per character
    "audio_transcriptions": Decimal("0.0001"),  # per second ($0.006 / minute)
    "vector_stores": Decimal("0.10") / GIB / 24,  # per byte-hour ($0.10 / GiB-day)
    "code_interpreter_sessions": Decimal("0.03"),  # per session
}
# Costs API line item and quantity unit of each endpoint's charge
LINE_ITEMS = {
    "embeddings": (f"{EMBEDDING_MODEL}, input", "tokens"),
    "images": (f"{IMAGE_MODEL}, images", "images"),
    "audio_speeches": (f"{TTS_MODEL}, characters", "characters"),
    "audio_transcriptions": (f"{TRANSCRIBE_MODEL}, seconds", "duration_seconds"),
    "vector_stores": ("Vector store storage", "gibibyte_hours"),
    "code_interpreter_sessions": ("Code interpreter sessions", "sessions"),
}
QUANTITY_UNITS = {item: unit for item, unit in LINE_ITEMS.values()}

# endpoint -> (result object, metric fields in wire order, grouping fields in wire order)
ENDPOINTS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "embeddings": (
        "organization.usage.embeddings.result",
        ("input_tokens", "num_model_requests"),
        ("project_id", "user_id", "api_key_id", "model"),
    ),
    "moderations": (
        "organization.usage.moderations.result",
        ("input_tokens", "num_model_requests"),
        ("project_id", "user_id", "api_key_id", "model"),
    ),
    "images": (
        "organization.usage.images.result",
        ("images", "num_model_requests"),
        ("source", "size", "project_id", "user_id", "api_key_id", "model"),
    ),
    "audio_speeches": (
        "organization.usage.audio_speeches.result",
        ("characters", "num_model_requests"),
        ("project_id", "user_id", "api_key_id", "model"),
    ),
    "audio_transcriptions": (
        "organization.usage.audio_transcriptions.result",
        ("seconds", "num_model_requests"),
        ("project_id", "user_id", "api_key_id", "model"),
    ),
    "vector_stores": (
        "organization.usage.vector_stores.result",
        ("usage_bytes",),
        ("project_id",),
    ),
    "code_interpreter_sessions": (
        "organization.usage.code_interpreter_sessions.result",
        ("num_sessions",),
        ("project_id",),
    ),
}


@dataclass(frozen=True)
class ExtraRow:
    """One day's usage of one endpoint for one grouping (dims by field name)."""

    endpoint: str
    dims: tuple[tuple[str, Any], ...]
    metrics: tuple[tuple[str, int], ...]

    def dim(self, name: str) -> Any:
        return dict(self.dims).get(name)

    def metric(self, name: str) -> int:
        return dict(self.metrics).get(name, 0)


def generate(seed: int, day: date, scale: float, projects: Any) -> list[ExtraRow]:
    """The day's non-completions usage of every project (deterministic per seed and day)."""
    rows: list[ExtraRow] = []
    for index, project in enumerate(projects):
        rng = random.Random(f"{seed}|openai-extras|{day.isoformat()}|{project.id}")
        key = project.keys[0].id
        noise = rng.lognormvariate(0, 0.1)

        def n(base: float, rng: random.Random = rng, noise: float = noise) -> int:
            return max(0, round(base * scale * noise * rng.uniform(0.85, 1.15)))

        def add(endpoint: str, dims: dict[str, Any], **metrics: int) -> None:
            if any(metrics.values()):
                rows.append(ExtraRow(endpoint, tuple(dims.items()), tuple(sorted(metrics.items()))))

        keyed = {"project_id": project.id, "user_id": None, "api_key_id": key}
        # every project embeds (search/RAG) and moderates; one makes images, one speaks
        requests = n(4_000)
        add(
            "embeddings",
            {**keyed, "model": EMBEDDING_MODEL},
            input_tokens=requests * rng.randint(300, 700),
            num_model_requests=requests,
        )
        requests = n(1_500)
        add(
            "moderations",
            {**keyed, "model": MODERATION_MODEL},
            input_tokens=requests * rng.randint(100, 300),
            num_model_requests=requests,
        )
        if index == 0:
            images = n(120)
            add(
                "images",
                {"source": "image.generation", "size": "1024x1024", **keyed, "model": IMAGE_MODEL},
                images=images,
                num_model_requests=images,
            )
            requests = n(300)
            add(
                "audio_speeches",
                {**keyed, "model": TTS_MODEL},
                characters=requests * rng.randint(200, 600),
                num_model_requests=requests,
            )
            requests = n(200)
            add(
                "audio_transcriptions",
                {**keyed, "model": TRANSCRIBE_MODEL},
                seconds=requests * rng.randint(30, 240),
                num_model_requests=requests,
            )
        if index in (1, 3):
            stored = round((2 + index) * GIB * (1 + (day.toordinal() % 30) / 100))
            add("vector_stores", {"project_id": project.id}, usage_bytes=stored)
            add("code_interpreter_sessions", {"project_id": project.id}, num_sessions=n(60))
    return rows


def cost_lines(rows: list[ExtraRow]) -> list[tuple[Any, ...]]:
    """Costs API lines (project, api_key_id, line_item, quantity, amount at 10 dp)."""
    lines: list[tuple[Any, ...]] = []
    for row in rows:
        if row.endpoint not in LINE_ITEMS:
            continue
        item, _unit = LINE_ITEMS[row.endpoint]
        price = UNIT_PRICES[row.endpoint]
        if row.endpoint == "vector_stores":
            quantity = row.metric("usage_bytes")
            amount = quantity * 24 * price
            quantity = round(quantity / GIB * 24)  # GiB-hours of a day's storage
        else:
            metric = ENDPOINTS[row.endpoint][1][0]
            quantity = row.metric(metric)
            amount = quantity * price
        lines.append(
            (row.dim("project_id"), row.dim("api_key_id"), item, quantity, amount.quantize(TEN_DP))
        )
    return lines


def usage_result(endpoint: str, dims: dict[str, Any], metrics: dict[str, int]) -> dict[str, Any]:
    """One result object in the field order of the Usage API."""
    obj, metric_fields, group_fields = ENDPOINTS[endpoint]
    out: dict[str, Any] = {"object": obj}
    out.update({f: metrics.get(f, 0) for f in metric_fields})
    out.update({f: dims.get(f) for f in group_fields})
    return out
