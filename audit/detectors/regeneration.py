"""``regeneration``: the same prompt sent again after an answer was rejected.

A request is a *repeat* when the same caller sent the same prompt (same ``prompt_hash``;
without a hash, the same model and prompt size, if enabled) within the window after an
earlier attempt, or when the log marks its outcome ``regenerated``. Every repeat is
avoidable spend: the saving is its whole cost. The first attempt is never flagged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import polars as pl

from audit.detectors import detector
from audit.detectors._groups import in_sequence, in_shared_groups, with_stored
from audit.detectors.base import (
    CALLER_COLUMNS,
    POSITION,
    DetectContext,
    Detector,
    Param,
    Rule,
    caller,
    field_columns,
    hash_of,
    stored_hash,
)


@detector
class Regeneration(Detector):
    """Repeated identical prompts from one caller within a short window."""

    name = "regeneration"
    summary = (
        "the same prompt sent again within minutes (or marked regenerated); saving = the repeats"
    )
    params: ClassVar[dict[str, Param]] = {
        "window_minutes": Param("int", 10, "a repeat must follow the previous attempt within this"),
        "match_size_without_hash": Param(
            "bool",
            False,
            "without prompt_hash, treat same caller + model + prompt size as the same prompt",
        ),
        "count_marked_outcome": Param(
            "bool", True, "also flag requests whose outcome is 'regenerated'"
        ),
    }
    evidence = ("prompt_hash", "outcome", "session_id")
    stored_reads = frozenset({"prompt_hash"})

    def details(self, rule: Rule) -> dict[str, pl.Expr]:
        return {
            "prompts": pl.col("_prompt_key").n_unique(),
            "models": pl.col("model").drop_nulls().unique().sort(),
        }

    def finish(self, rule: Rule) -> dict[str, pl.Expr]:
        return {
            "subject": caller(),
            "_prompt_key": _prompt_key(rule),
            "savings_usd": pl.col("cost_usd"),
        }

    def columns(self, rule: Rule) -> set[str] | None:
        size = field_columns("prompt_tokens") if rule.params["match_size_without_hash"] else set()
        return size | {
            *CALLER_COLUMNS,
            "prompt_hash",
            "model",
            "ts",
            "outcome",
            "session_id",
            "cost_usd",
        }

    def detect(self, rows: pl.LazyFrame, rule: Rule, ctx: DetectContext) -> pl.LazyFrame:
        """Repeats are looked for among the requests whose prompt was sent more than once
        (:func:`~audit.detectors._groups.in_shared_groups`: a few percent of a month; the
        caller is not needed to tell, a repeat of a (caller, prompt) repeats the prompt),
        each compared with the attempt before it from its caller; marked outcomes are
        added.

        Where the report left the prompt hashes in the store, they are read once, for those
        requests and the marked ones together, and returned with the flagged requests: the
        findings show them, and a second read of that long column for the findings would
        scan the month's parts again (0.45 s at ten million requests).
        """
        window = pl.duration(minutes=rule.params["window_minutes"])
        prompt = _prompt_key(rule)
        names = rows.collect_schema().names()
        # Prompts are told apart by their text; where the report left it in the store, by
        # the held hash of it until the rows that share one are read with their text.
        held = "prompt_hash" in names
        group = prompt if held else _prompt_group(rule)
        reads = [c for c in prompt.meta.root_names() if c in names]
        candidates = in_shared_groups(rows.filter(group.is_not_null()), [group])
        columns = [POSITION, "ts", caller().alias("subject"), *reads]
        picked = candidates.select(*columns, pl.lit(True).alias("_shared"))
        marks = rule.params["count_marked_outcome"]
        if marks:
            marked = rows.filter(pl.col("outcome") == "regenerated")
            picked = pl.concat(
                [picked, marked.select(*columns, pl.lit(False).alias("_shared"))]
            ).unique(POSITION, keep="first", maintain_order=True)
        picked = with_stored(picked, ctx, ["prompt_hash"])
        shared = picked.filter("_shared").select(
            POSITION, "ts", "subject", prompt.alias("_prompt_key")
        )

        def since_previous(
            previous: Callable[[pl.Expr], pl.Expr], _: pl.Expr
        ) -> dict[str, pl.Expr]:
            return {"_since": pl.col("ts") - previous(pl.col("ts"))}

        ordered = in_sequence(shared, ["subject", "_prompt_key"], "ts", since_previous)
        found = ordered.filter(pl.col("_since") <= window).select(POSITION)
        if marks:
            found = pl.concat([found, marked.select(POSITION)]).unique(POSITION)
        return found.join(
            picked.select(POSITION, "prompt_hash"), on=POSITION, how="left", maintain_order="left"
        )


def _prompt_key(rule: Rule) -> pl.Expr:
    """What makes two prompts the same: the prompt hash, or (if the rule says so and there
    is none) the model and the prompt's size."""
    prompt = pl.col("prompt_hash")
    if rule.params["match_size_without_hash"]:
        prompt = pl.coalesce(prompt, _size_key())
    return prompt


def _size_key() -> pl.Expr:
    size = (
        pl.col("input_tokens").fill_null(0)
        + pl.col("cached_input_tokens").fill_null(0)
        + pl.col("cache_write_tokens").fill_null(0)
    )
    return pl.concat_str(pl.lit("size:"), pl.col("model"), pl.lit(":"), size.cast(pl.String))


def _prompt_group(rule: Rule) -> pl.Expr:
    """:func:`_prompt_key` as a 64-bit hash, from the held hash of the prompt hash (see
    :func:`~audit.detectors.base.hash_of`): equal keys, equal hashes; null exactly where
    the key is."""
    held = pl.col(hash_of("prompt_hash"))
    if not rule.params["match_size_without_hash"]:
        return held
    return pl.when(held.is_not_null()).then(held).otherwise(stored_hash(_size_key()))
