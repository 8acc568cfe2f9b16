"""The export-file simulator: documented layout, ground truth that matches the files (read back
through the real dlt sources' readers) and restatement that replaces the current month."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

from ingestion._export_files import data_files
from ingestion.aws_cur import read_cur_file
from ingestion.azure_cost import read_cost_file
from ingestion.focus import read_focus_file
from ingestion.gcp_billing import read_billing_file
from ingestion.simulator.config import SimConfig
from ingestion.simulator.exports import daily_totals, ignored_row_counts, write_exports

CFG = SimConfig(seed=7, start=date(2026, 5, 20), end=date(2026, 7, 10))


def file_totals(root: Path) -> tuple[dict, dict]:
    """(provider, day, currency) -> [cost, rows] of AI rows, and non-AI row counts, as read
    back from the files with the sources' own readers and the staging models' AI filters."""
    acc: dict = defaultdict(lambda: [Decimal(0), 0])
    ignored: dict = defaultdict(int)
    for path in data_files(root / "aws_cur" / "data"):
        for r in read_cur_file(path, path.parent.name.split("=")[1], "aispend-cur"):
            product = json.loads(r["product"] or "{}").get("product_name", "")
            ai = r["line_item_product_code"] == "AmazonBedrock" or (
                r["bill_billing_entity"] == "AWS Marketplace" and "Bedrock" in product
            )
            if ai:
                key = ("aws_bedrock", date.fromisoformat(r["line_item_usage_start_date"][:10]),
                       r["line_item_currency_code"])  # fmt: skip
                acc[key][0] += r["line_item_unblended_cost"]
            else:
                ignored["aws_cur"] += 1
    for path in data_files(root / "gcp_billing"):
        for r in read_billing_file(path):
            if r["service_description"] == "Vertex AI":
                key = ("gcp_vertex", date.fromisoformat(r["usage_start_time"][:10]), r["currency"])
                acc[key][0] += r["cost"] + r["credits_total"]
            else:
                ignored["gcp_billing"] += 1
    for path in data_files(root / "azure_cost"):
        for r in read_cost_file(path):
            if r["meter_sub_category"] == "Azure OpenAI":
                acc[("azure_openai", r["date"], r["billing_currency"])][0] += r[
                    "cost_in_billing_currency"
                ]
            else:
                ignored["azure_cost"] += 1
    for path in data_files(root / "focus"):
        if path.suffix == ".csv" and path.with_suffix(".parquet").exists():
            continue
        for r in read_focus_file(path):
            if r["_is_ai"]:
                key = ("azure_openai", date.fromisoformat(r["charge_period_start"][:10]),
                       r["billing_currency"])  # fmt: skip
                acc[key][0] += r["billed_cost"]
            else:
                ignored["focus"] += 1
    return {k: v[0] for k, v in acc.items()}, dict(ignored)


def truth(restate: bool = False) -> dict:
    return {
        (t["provider"], t["date"], t["billing_currency"]): t["billed_cost"]
        for t in daily_totals(CFG, restate=restate)
    }


def test_layout_totals_and_restatement(tmp_path):
    paths = write_exports(CFG, tmp_path)
    assert set(paths) == {"aws_cur", "gcp_billing", "azure_cost", "focus"}
    aws = tmp_path / "aws_cur"
    assert (aws / "data/BILLING_PERIOD=2026-05/aispend-cur-00001.csv.gz").exists()
    assert (aws / "data/BILLING_PERIOD=2026-06/aispend-cur-00001.snappy.parquet").exists()
    assert (aws / "data/BILLING_PERIOD=2026-07/aispend-cur-00001.snappy.parquet").exists()
    manifest = json.loads(
        (aws / "metadata/BILLING_PERIOD=2026-07/aispend-cur-Manifest.json").read_text()
    )
    assert manifest["dataFiles"] == ["data/BILLING_PERIOD=2026-07/aispend-cur-00001.snappy.parquet"]
    assert sorted(p.suffix for p in (tmp_path / "gcp_billing").iterdir()) == [
        ".jsonl", ".jsonl", ".parquet",
    ]  # fmt: skip
    ea = (tmp_path / "azure_cost/ea-actual-cost/202606.csv").read_text().splitlines()
    mca = (tmp_path / "azure_cost/mca-actual-cost/202606.csv").read_text().splitlines()
    assert ea[0].startswith("InvoiceSectionName,") and "06/01/2026" in ea[1]
    assert "costInBillingCurrency" in mca[0] and ",EUR," in mca[1]
    assert '"""team"": ""support"",""env"": ""prod"""' in ea[1]  # braceless Tags
    assert (tmp_path / "focus/focus-focus-ba-5566-202607.parquet").exists()

    got, ignored = file_totals(tmp_path)
    expected = truth()
    assert got == expected
    assert {p for p, _, _ in expected} == {"aws_bedrock", "gcp_vertex", "azure_openai"}
    assert {c for _, _, c in expected} == {"USD", "EUR"}
    assert ignored == ignored_row_counts(CFG) and all(ignored.values())
    assert any(
        r["credits_total"] < 0
        for p in data_files(tmp_path / "gcp_billing")
        for r in read_billing_file(p)
    )

    # the restated delivery replaces July's files; May and June stay as they were
    july = aws / "data/BILLING_PERIOD=2026-07/aispend-cur-00001.snappy.parquet"
    june_bytes = (aws / "data/BILLING_PERIOD=2026-06/aispend-cur-00001.snappy.parquet").read_bytes()
    write_exports(CFG, tmp_path, restate=True)
    assert july.exists() and len(list(july.parent.iterdir())) == 1
    assert (
        aws / "data/BILLING_PERIOD=2026-06/aispend-cur-00001.snappy.parquet"
    ).read_bytes() == june_bytes
    got2, _ = file_totals(tmp_path)
    restated = truth(restate=True)
    assert got2 == restated
    changed = {k[1].month for k in restated if restated[k] != expected[k]}
    assert changed == {7}


def test_deterministic_from_seed():
    assert daily_totals(CFG) == daily_totals(CFG)
    other = daily_totals(SimConfig(seed=8, start=CFG.start, end=CFG.end))
    assert other != daily_totals(CFG)
    tokens = {t["provider"]: t["tokens"] for t in daily_totals(CFG)}
    assert all(v > 0 for v in tokens.values())
