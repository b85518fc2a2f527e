"""FOCUS 1.x billing exports (FinOps Open Cost and Usage Specification), CSV.

AWS Data Exports, Azure Cost Management, Google Cloud and others export FOCUS: one row per
charge (per charge period × SKU × resource …), with PascalCase columns. Column names are
matched case-insensitively and with or without underscores (``BilledCost`` =
``billed_cost``); custom ``x_`` columns are kept in tags.

**Only LLM spend is loaded.** A FOCUS file holds every cloud charge. A row is kept when its
``ServiceCategory`` is ``AI and Machine Learning``, or its ``ServiceName`` is a recognisable
LLM service (Bedrock, OpenAI, Vertex AI, AI Foundry, Gemini, Anthropic, …), or its
``ProviderName`` is an LLM vendor (OpenAI, Anthropic, …). Every other row (compute,
storage, …) is skipped silently: it is not LLM spend and not an error, so it is neither
loaded nor rejected (the skipped count is not reported; the canonical frame has no place
for it). The AI and Machine Learning category also holds non-LLM services (SageMaker,
Rekognition, …): they are kept, with ``tags.service_name`` saying what they are.

Mapping (``granularity`` aggregate, ``aggregate_rank`` 10: invoice-grade, wins over every
other billing source of the same provider and day):

* ``reported_cost_usd`` = ``BilledCost``, exactly. Only USD: a row whose
  ``BillingCurrency`` is not ``USD`` (or is missing) is rejected with that reason —
  tokaudit never converts currencies. Credits, adjustments, taxes and purchases are real
  money and are loaded (negative amounts included); ``tags.charge_category`` names them.
  ``EffectiveCost`` and ``ListCost`` go to tags.
* ``ts`` = ``ChargePeriodStart`` (``ChargePeriodEnd`` in tags).
* ``provider`` from ``ServiceName``/``ProviderName``: Amazon Bedrock → ``bedrock``; Azure
  OpenAI, Azure AI Foundry, Azure Cognitive Services → ``azure``; Vertex AI → ``vertex``;
  Gemini API → ``google``; a vendor billing directly (OpenAI, Anthropic, Mistral, …) →
  itself; otherwise null.
* Tokens: ``ConsumedQuantity`` in ``ConsumedUnit`` (``Tokens``, ``1K Tokens``,
  ``1M Tokens``, ``Thousand Tokens`` …; rounded to whole tokens). Which token column it
  fills is read from ``SkuMeter``, ``ChargeDescription``, ``SkuId`` and ``x_UsageType``:
  cache writes (``cache write``/``cache creation``; a ``1h`` one is also
  ``cache_write_1h_tokens``), cache reads (``cache read``, ``cached``), output (``output``,
  ``Outp``, ``completion``), input (``input``, ``Inp``, ``prompt``). When the unit is not a
  token unit or the type is not named, tokens stay null (the cost is still exact). A
  negative quantity (a correction) leaves tokens null too. A ``batch`` charge gets
  ``service_tier = batch``.
* ``model_raw`` (best effort): a Bedrock model or inference-profile ARN in
  ``ResourceId``/``ResourceName`` gives its model id verbatim; otherwise the first of
  ``ChargeDescription``, ``SkuMeter``, ``SkuId``, ``ResourceName`` that names a model
  family (claude, gpt, gemini, llama, nova, mistral, …), with token-type and pricing words
  removed: ``Claude Sonnet 4 input tokens`` → ``claude-sonnet-4``. Otherwise null.
* ``Tags`` (a JSON object) → attribution columns through tokaudit.yaml's ``attribution``
  keys (AWS's ``user:`` prefix ignored), the rest to tags. ``project`` = a tag's project,
  else ``SubAccountName``, else ``SubAccountId`` (an AWS account, Azure subscription or
  Google Cloud project).
* ``record_id``: the charge's dimensions (account, sub-account, period, category, class,
  service, SKU, meter, description, resource, region, pricing, commitment, tags, unit, every
  ``x_`` column) plus the row's ordinal among identical dimensions in the file. Amounts are
  not part of it, so an overlapping re-export of the same charges loads nothing new (the
  first ingested amount stays).

The rows kept are collected for the whole file before mapping (for the ordinals), so memory
grows with the file's AI rows, not with its size.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl

from audit.normalize import ERROR_COLUMN, clean_text, gather_errors, parse_columns, tags_json
from audit.sources import source
from audit.sources.base import ReadOptions, Sample, SourceAdapter, header_score
from audit.sources.generic_tabular import split_metadata
from audit.sources.tables import iter_csv

S = pl.String

_REQUIRED = {"billedcost", "billingcurrency", "chargeperiodstart", "chargecategory"}
_OPTIONAL = frozenset(
    {
        "effectivecost",
        "listcost",
        "contractedcost",
        "chargeperiodend",
        "chargedescription",
        "consumedquantity",
        "consumedunit",
        "providername",
        "publishername",
        "servicecategory",
        "servicename",
        "skuid",
        "skumeter",
        "resourceid",
        "regionid",
        "subaccountid",
        "tags",
        "billingaccountid",
        "billingperiodstart",
    }
)
#: Columns read (normalised names); plus every ``x_`` column.
_COLUMNS = (
    "billedcost",
    "effectivecost",
    "listcost",
    "billingcurrency",
    "billingaccountid",
    "chargeperiodstart",
    "chargeperiodend",
    "chargecategory",
    "chargeclass",
    "chargefrequency",
    "chargedescription",
    "consumedquantity",
    "consumedunit",
    "pricingcategory",
    "providername",
    "publishername",
    "servicecategory",
    "servicesubcategory",
    "servicename",
    "skuid",
    "skupriceid",
    "skumeter",
    "resourceid",
    "resourcename",
    "regionid",
    "subaccountid",
    "subaccountname",
    "commitmentdiscountid",
    "tags",
)
#: The charge's identity for record ids (amounts and quantities excluded), plus x_ columns.
_KEY = (
    "billingaccountid",
    "subaccountid",
    "chargeperiodstart",
    "chargeperiodend",
    "chargecategory",
    "chargeclass",
    "chargefrequency",
    "servicename",
    "skuid",
    "skupriceid",
    "skumeter",
    "chargedescription",
    "resourceid",
    "regionid",
    "pricingcategory",
    "commitmentdiscountid",
    "tags",
    "consumedunit",
)
AI_CATEGORY = "ai and machine learning"
_LLM_SERVICE = (
    r"bedrock|openai|vertex|ai foundry|foundry models|azure ai|gemini|generative language"
    r"|anthropic|claude|mistral|cohere"
)
_LLM_VENDORS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "mistral": "mistral",
    "mistral ai": "mistral",
    "cohere": "cohere",
    "deepseek": "deepseek",
    "xai": "xai",
    "x.ai": "xai",
    "groq": "groq",
    "together": "together",
    "together ai": "together",
    "fireworks": "fireworks",
    "fireworks ai": "fireworks",
    "openrouter": "openrouter",
}
_FAMILY = (
    r"claude|gpt|o[1-9]|gemini|gemma|llama|mistral|mixtral|codestral|pixtral|ministral|nova"
    r"|titan|command|jamba|deepseek|grok|qwen|phi|dall-e|whisper|sonar|kimi|embed"
)
_NOISE = (
    r"\b(input|output|inp|outp|prompt|completion|cached|cache|read|write|writes|reads|creation"
    r"|hit|tokens?|batch|glbl|global|regional|rgnl|data ?zone|dzone|standard|on-?demand|per"
    r"|\d+ ?[km]|1h|5m|usage|characters?|chars|images?|requests?|units?|provisioned"
    r"|throughput|priority|flex|generation|inference|hosting)\b"
)
_BEDROCK_ARN = r"(?:foundation-model|inference-profile)/([A-Za-z0-9.:_\-]+)$"


def _normalised(name: str) -> str:
    """FOCUS column names case- and underscore-insensitively; ``x_`` columns keep their prefix."""
    lowered = name.strip().lower()
    return lowered if lowered.startswith("x_") else lowered.replace("_", "")


@source
class FocusCsv(SourceAdapter):
    """LLM charges from a FOCUS 1.x billing export (CSV); other cloud charges are skipped."""

    name = "focus-csv"
    title = "FOCUS 1.x billing export CSV (AI and Machine Learning charges)"
    granularity = "aggregate"
    obtain = (
        "AWS Data Exports (FOCUS 1.0), Azure Cost Management exports (FOCUS), or the Google "
        "Cloud FOCUS BigQuery view saved as CSV"
    )
    aggregate_rank = 10

    def sniff(self, sample: Sample) -> float:
        header = sample.csv_header
        if header is None:
            return 0.0
        return header_score([_normalised(h) for h in header], _REQUIRED, _OPTIONAL)

    def read(self, path: Path, options: ReadOptions) -> Iterator[pl.LazyFrame]:
        kept: list[pl.DataFrame] = []
        for batch in iter_csv(path, options.chunk_lines):
            kept.append(_ai_rows(batch))
        frame = pl.concat(kept, how="diagonal") if kept else pl.DataFrame()
        if frame.height:
            lookup = options.config.attribution_lookup()
            yield _map(frame, lookup)


def _ai_rows(batch: pl.DataFrame) -> pl.DataFrame:
    """Stage 0: normalised column names, only the LLM rows, only the columns read."""
    rename: dict[str, str] = {}
    for name in batch.columns:
        target = "source_line" if name == "source_line" else _normalised(name)
        if target not in rename.values():
            rename[name] = target
    batch = batch.select([pl.col(old).alias(new) for old, new in rename.items()])
    present = set(batch.columns)
    frame = batch.select(
        "source_line",
        *[(pl.col(c) if c in present else pl.lit(None, S)).alias(c) for c in _COLUMNS],
        *[pl.col(c) for c in batch.columns if c.startswith("x_")],
    )
    category = clean_text(pl.col("servicecategory")).str.to_lowercase()
    service = clean_text(pl.col("servicename")).str.to_lowercase()
    vendor = clean_text(pl.col("providername")).str.to_lowercase()
    is_llm = (
        (category == AI_CATEGORY).fill_null(False)
        | service.str.contains(_LLM_SERVICE).fill_null(False)
        | vendor.is_in(list(_LLM_VENDORS)).fill_null(False)
    )
    return frame.filter(is_llm)


def _token_multiplier(unit: pl.Expr) -> pl.Expr:
    """Tokens per unit of ``ConsumedUnit`` (``Tokens``, ``1K Tokens``, ``10k tokens``,
    ``1,000 Tokens``, ``Million Tokens`` …); null when the unit does not count tokens."""
    number = (
        unit.str.extract(r"(\d[\d,]*(?:\.\d+)?)", 1)
        .str.replace_all(",", "")
        .cast(pl.Float64, strict=False)
        .fill_null(1.0)
    )
    scale = (
        pl.when(unit.str.contains(r"\d ?m\b|million"))
        .then(pl.lit(1_000_000.0))
        .when(unit.str.contains(r"\d ?k\b|thousand"))
        .then(pl.lit(1_000.0))
        .otherwise(pl.lit(1.0))
    )
    return pl.when(unit.str.contains("token")).then(number * scale)


def _model_from(text: pl.Expr) -> pl.Expr:
    """A model id named in a free-text SKU or description, else null."""
    cleaned = text.str.to_lowercase().str.replace_all(_NOISE, " ")
    found = cleaned.str.extract(rf"\b((?:{_FAMILY})[a-z0-9.\- _]*)", 1)
    slug = found.str.replace_all(r"[\s_]+", "-").str.replace_all(r"-{2,}", "-")
    slug = slug.str.strip_chars("-. ")
    return pl.when(slug.str.len_chars() > 0).then(slug)


def _map(frame: pl.DataFrame, lookup: dict[str, str]) -> pl.LazyFrame:
    x_columns = sorted(c for c in frame.columns if c.startswith("x_"))
    tag_names = (
        "service_name",
        "service_category",
        "service_subcategory",
        "provider_name",
        "publisher_name",
        "charge_category",
        "charge_class",
        "charge_description",
        "sku_id",
        "sku_price_id",
        "sku_meter",
        "resource_id",
        "resource_name",
        "region",
        "sub_account_id",
        "sub_account_name",
        "billing_account_id",
        "charge_period_end",
        "effective_cost",
        "list_cost",
        "consumed_quantity",
        "consumed_unit",
        *x_columns,
    )
    frame = split_metadata(frame, "tags", lookup, reserved=tag_names, strip_prefixes=("user:",))
    key_parts = [clean_text(pl.col(c)).fill_null("") for c in (*_KEY, *x_columns)]
    usage_type = pl.col("x_usagetype") if "x_usagetype" in frame.columns else pl.lit(None, S)
    lazy = frame.lazy().with_columns(
        *parse_columns(
            {
                "ts": ("chargeperiodstart", "ts", "ChargePeriodStart"),
                "reported_cost_usd": ("billedcost", "usd", "BilledCost"),
                "p.quantity": ("consumedquantity", "float", "ConsumedQuantity"),
            }
        ),
        pl.concat_str(key_parts, separator="|").alias("_key"),
        pl.concat_str(
            [
                clean_text(c)
                for c in (
                    pl.col("skumeter"),
                    pl.col("chargedescription"),
                    pl.col("skuid"),
                    usage_type,
                )
            ],
            separator=" | ",
            ignore_nulls=True,
        )
        .str.to_lowercase()
        .alias("_kind_text"),
        clean_text(pl.col("consumedunit")).str.to_lowercase().alias("_unit"),
        clean_text(pl.col("billingcurrency")).str.to_uppercase().alias("_currency"),
        clean_text(pl.col("servicename")).str.to_lowercase().alias("_service"),
        clean_text(pl.col("providername")).str.to_lowercase().alias("_vendor"),
    )
    kind = pl.col("_kind_text")
    lazy = lazy.with_columns(
        pl.when(kind.str.contains(r"cache[ _-]*(write|creation|storage)|cachewrite"))
        .then(pl.lit("cache_write"))
        .when(kind.str.contains(r"cache[ _-]*(read|hit)|cacheread|cached"))
        .then(pl.lit("cache_read"))
        .when(kind.str.contains(r"output|\boutp\b|completion"))
        .then(pl.lit("output"))
        .when(kind.str.contains(r"input|\binp\b|prompt"))
        .then(pl.lit("input"))
        .alias("_token_kind"),
        (pl.col("p.quantity") * _token_multiplier(pl.col("_unit")))
        .round(0)
        .cast(pl.Int64, strict=False)
        .alias("_tokens"),
        pl.coalesce(
            clean_text(pl.col("resourceid")).str.extract(_BEDROCK_ARN, 1),
            clean_text(pl.col("resourcename")).str.extract(_BEDROCK_ARN, 1),
            *[
                _model_from(clean_text(pl.col(c)))
                for c in ("chargedescription", "skumeter", "skuid", "resourcename")
            ],
        ).alias("model_raw"),
        (pl.int_range(pl.len()).over("_key")).cast(S).alias("_ordinal"),
    )
    tokens = pl.when(pl.col("_tokens") >= 0).then(pl.col("_tokens"))

    def of_kind(name: str) -> pl.Expr:
        return pl.when(pl.col("_token_kind") == name).then(tokens)

    service, vendor = pl.col("_service"), pl.col("_vendor")
    currency = pl.col("_currency")
    meta = {t: pl.col(f"meta.{t}") for t in ("user", "team", "environment", "purpose", "app")}
    lazy = lazy.with_columns(
        pl.concat_str(pl.lit("focus|"), pl.col("_key"), pl.lit("#"), pl.col("_ordinal")).alias(
            "record_id"
        ),
        pl.when(service.str.contains("bedrock"))
        .then(pl.lit("bedrock"))
        .when(service.str.contains("vertex"))
        .then(pl.lit("vertex"))
        .when(
            service.str.contains(r"openai|foundry|azure ai|cognitive")
            & (service.str.contains("azure") | vendor.str.contains("microsoft|azure"))
        )
        .then(pl.lit("azure"))
        .when(service.str.contains(r"gemini|generative language"))
        .then(pl.lit("google"))
        .otherwise(vendor.replace_strict(_LLM_VENDORS, default=None, return_dtype=S))
        .alias("provider"),
        of_kind("input").alias("input_tokens"),
        of_kind("cache_read").alias("cached_input_tokens"),
        of_kind("cache_write").alias("cache_write_tokens"),
        pl.when(kind.str.contains(r"\b1 ?h|1 ?hour|one hour"))
        .then(of_kind("cache_write"))
        .alias("cache_write_1h_tokens"),
        of_kind("output").alias("output_tokens"),
        pl.when(kind.str.contains(r"\bbatch")).then(pl.lit("batch")).alias("service_tier"),
        pl.coalesce(
            pl.col("meta.project"),
            clean_text(pl.col("subaccountname")),
            clean_text(pl.col("subaccountid")),
        ).alias("project"),
        pl.col("meta.key_name").alias("key_name"),
        pl.col("meta.session_id").alias("session_id"),
        *[value.alias(name) for name, value in meta.items()],
        pl.when(currency.is_null())
        .then(pl.lit("BillingCurrency is missing: the amount's currency is unknown"))
        .when(currency != "USD")
        .then(
            pl.concat_str(
                pl.lit("BillingCurrency '"),
                currency,
                pl.lit("' is not USD: tokaudit never converts currencies"),
            )
        )
        .alias("_err.~currency"),
        tags_json(
            {
                "service_name": clean_text(pl.col("servicename")),
                "service_category": clean_text(pl.col("servicecategory")),
                "service_subcategory": clean_text(pl.col("servicesubcategory")),
                "provider_name": clean_text(pl.col("providername")),
                "publisher_name": clean_text(pl.col("publishername")),
                "charge_category": clean_text(pl.col("chargecategory")),
                "charge_class": clean_text(pl.col("chargeclass")),
                "charge_description": clean_text(pl.col("chargedescription")),
                "sku_id": clean_text(pl.col("skuid")),
                "sku_price_id": clean_text(pl.col("skupriceid")),
                "sku_meter": clean_text(pl.col("skumeter")),
                "resource_id": clean_text(pl.col("resourceid")),
                "resource_name": clean_text(pl.col("resourcename")),
                "region": clean_text(pl.col("regionid")),
                "sub_account_id": clean_text(pl.col("subaccountid")),
                "sub_account_name": clean_text(pl.col("subaccountname")),
                "billing_account_id": clean_text(pl.col("billingaccountid")),
                "charge_period_end": clean_text(pl.col("chargeperiodend")),
                "effective_cost": clean_text(pl.col("effectivecost")),
                "list_cost": clean_text(pl.col("listcost")),
                "consumed_quantity": clean_text(pl.col("consumedquantity")),
                "consumed_unit": clean_text(pl.col("consumedunit")),
                **{c: clean_text(pl.col(c)) for c in x_columns},
            },
            extra_json=pl.col("meta.rest"),
        ).alias("tags"),
    )
    lazy = lazy.with_columns(gather_errors(lazy.collect_schema().names()))
    return lazy.select(
        "record_id", "source_line", "ts", "provider", "model_raw", "service_tier", "key_name",
        "user", "team", "project", "environment", "purpose", "app", "session_id",
        "input_tokens", "cached_input_tokens", "cache_write_tokens", "cache_write_1h_tokens",
        "output_tokens", "reported_cost_usd", "tags", ERROR_COLUMN,
    )  # fmt: skip
