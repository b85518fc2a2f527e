"""Running rules: flagged requests → findings per subject, and de-duplicated savings.

Every detector returns one row per flagged request with that request's avoidable dollars.
Here they become findings (grouped by subject, with evidence and a worded
recommendation), and the month's *estimated avoidable spend* is computed so that no dollar
counts twice: a request flagged by several rules contributes its largest saving once, and
never more than it cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import polars as pl

from audit.detectors.base import (
    POSITION,
    RECORD_COLUMNS,
    DetectContext,
    Detector,
    Rule,
    field_columns,
    read_stored,
)
from audit.detectors.where import spec_fields, tag_key
from audit.money import MONEY, format_usd, json_number, to_decimal

EVIDENCE_ITEMS = 3
_SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}


#: Columns of a request the framework reads itself (evidence and de-duplication), in the
#: order evidence items show them.
FRAMEWORK_COLUMNS = ("record_id", "ts", "model", "cost_usd")


@dataclass
class RulePlan:
    """A rule's lazy outputs: flagged requests and the findings aggregated from them."""

    rule: Rule
    records: pl.LazyFrame
    findings: pl.LazyFrame
    #: How the flagged requests are computed; None once they are (see :meth:`collected`).
    flagged: Flagged | None = None

    def collected(self) -> RulePlan:
        """The same plan over its flagged requests computed once.

        ``records`` (for the de-duplicated savings) and ``findings`` both start from the
        flagged requests; collected separately, each would run the detector again. The
        flagged requests are few, so holding them costs nothing.
        """
        if self.flagged is None:
            return self
        return self._over(self.flagged.computed())

    def _over(self, flagged: pl.DataFrame) -> RulePlan:
        assert self.flagged is not None
        records, findings = _outputs(flagged.lazy(), self.rule, self.flagged.detector)
        return RulePlan(self.rule, records, findings, None)


def collected(plans: Sequence[RulePlan]) -> list[RulePlan]:
    """Every plan :meth:`~RulePlan.collected`, one rule after the other (one detector's
    working memory at a time), reading the columns they need from the store
    (:attr:`~audit.detectors.base.DetectContext.stored`) once for all of them: each read
    scans the month's parts, which costs more than reading the rows of every rule at once.
    """
    held = {i: p.flagged.held() for i, p in enumerate(plans) if p.flagged is not None}
    needing = [(i, f) for i, p in enumerate(plans) if (f := p.flagged) and f.from_store]
    read = None
    if needing and (stored := needing[0][1].stored) is not None:
        names = dict.fromkeys(name for _, f in needing for name in f.from_store)
        positions = pl.concat([held[i].get_column(POSITION) for i, _ in needing])
        read = read_stored(stored, positions, list(names))
    out = []
    for i, rule_plan in enumerate(plans):
        flagged = rule_plan.flagged
        out.append(
            rule_plan if flagged is None else rule_plan._over(flagged.completed(held[i], read))
        )
    return out


class Flagged:
    """A rule's flagged requests: what its detector found, completed from the rows.

    The detector names the requests it flags by :data:`~audit.detectors.base.POSITION`
    and adds the columns it computed; every other column the findings read (``record_id``,
    evidence, what ``details`` and ``finish`` read) comes from the rows, by position, for
    the flagged requests only. :meth:`lazy` does that as a join (one query, any rows);
    :meth:`computed` runs the detector first and then picks the flagged rows out by their
    positions, which on the report's in-memory rows is a filter on a column read before
    anything else, so the restored text and prices of millions of requests are never built.
    """

    def __init__(
        self,
        rule: Rule,
        detector: Detector,
        found: pl.LazyFrame,
        rows: pl.LazyFrame,
        stored: pl.LazyFrame | None = None,
    ) -> None:
        self.rule, self.detector, self.found, self.rows = rule, detector, found, rows
        self.stored = stored
        names = found.collect_schema().names()
        self.finish = detector.finish(rule)
        self.reads = {"subject", "savings_usd", *_evidence_columns(detector)}
        for expr in detector.details(rule).values():
            self.reads.update(expr.meta.root_names())
        needed = {*self.reads, "cost_usd"}
        for expr in self.finish.values():
            needed.update(expr.meta.root_names())

        def missing(frame: pl.LazyFrame | None, have: list[str]) -> list[str]:
            if frame is None:
                return []
            return [
                name
                for name in frame.collect_schema().names()
                if name in needed and name not in have and name not in self.finish
            ]

        self.missing = missing(rows, names)
        # Columns the rows leave in the store (see DetectContext.stored): read for the
        # flagged requests only, like the others.
        self.from_store = missing(stored, [*names, *self.missing, POSITION])
        if (self.missing or self.from_store) and POSITION not in names:
            raise AssertionError(f"detector {rule.detector} did not return {POSITION}")

    def lazy(self) -> pl.LazyFrame:
        """The flagged requests as one lazy query."""
        frame = self.found
        if self.missing:
            rows = self.rows.select(POSITION, *self.missing)
            frame = rows.join(frame, on=POSITION, maintain_order="left")
        if self.from_store and self.stored is not None:
            stored = self.stored.select(POSITION, *self.from_store)
            frame = frame.join(stored, on=POSITION, how="left", maintain_order="left")
        return self._finished(frame)

    def computed(self) -> pl.DataFrame:
        """The flagged requests, computed: the detector's query, then the flagged rows."""
        return self.completed(self.held(), None)

    def held(self) -> pl.DataFrame:
        """The detector's query computed, with the flagged rows' columns the rows hold."""
        # The streaming engine spreads a detector's row-wise work over every core (its sorts
        # are of narrow frames, see _groups); measured faster, and lighter, on 1M and 10M.
        # A detector's query reads the rows more than once (the hashes of its groups, then
        # the rows of repeated groups): reading the in-memory rows again costs less than
        # holding a shared copy of millions of them, which common subplans would.
        found = self.found.collect(
            engine="streaming", optimizations=pl.QueryOptFlags(comm_subplan_elim=False)
        )
        if not self.missing:
            return found
        positions = found.get_column(POSITION).implode()
        rows = self.rows.filter(pl.col(POSITION).is_in(positions)).select(POSITION, *self.missing)
        return rows.collect().join(found, on=POSITION, maintain_order="left")

    def completed(self, held: pl.DataFrame, read: pl.DataFrame | None) -> pl.DataFrame:
        """:meth:`held` complete: the columns left in the store, from ``read`` (rows read
        by position, these among them) or read now, and :meth:`_finished`."""
        if self.from_store and self.stored is not None:
            if read is None:
                read = read_stored(self.stored, held.get_column(POSITION), self.from_store)
            read = read.select(POSITION, *self.from_store)
            held = held.join(read, on=POSITION, how="left", maintain_order="left")
        return self._finished(held.lazy()).collect()

    def _finished(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        """The complete rows: ``finish`` computed, cost and capped saving, what is read."""
        frame = frame.with_columns(**self.finish)
        names = frame.collect_schema().names()
        missing = [c for c in RECORD_COLUMNS if c not in names]
        if missing:
            raise AssertionError(f"detector {self.rule.detector} did not return {missing}")
        cost = pl.col("cost_usd").cast(MONEY)
        savings = pl.col("savings_usd").cast(MONEY).fill_null(0)
        frame = frame.with_columns(
            cost,
            pl.when(cost.is_not_null() & (savings > cost))
            .then(cost)
            .otherwise(savings)
            .alias("savings_usd"),
        )
        return frame.select([name for name in names if name in self.reads])


@dataclass(frozen=True)
class RuleInputs:
    """What the rules read of a request: whole columns, and keys of ``tags``."""

    #: Columns read whole (``tags`` among them when some rule reads all of it).
    columns: list[str]
    #: Keys of ``tags`` read as ``tags.<key>`` fields (sorted).
    tag_keys: tuple[str, ...] = ()
    #: Columns among ``columns`` that may stay in the store (see
    #: :attr:`~audit.detectors.base.DetectContext.stored`): no rule reads them for every
    #: request, only the framework for flagged ones, or a detector that copes.
    stored: tuple[str, ...] = ()
    #: Columns among ``stored`` whose :func:`~audit.detectors.base.hash_of` a detector
    #: groups by, to be held in their place.
    hashed: tuple[str, ...] = ()


#: Columns worth leaving in the store when the rules allow: text that differs on nearly
#: every request, most of the memory a month's rows would take.
STORABLE = ("record_id", "prompt_hash")


def input_columns(rules: Sequence[Rule], available: Sequence[str]) -> RuleInputs:
    """The columns of ``available`` the rules read: what the report must hold for them.

    The framework's own columns, every ``where`` filter's and each detector's
    (:meth:`~audit.detectors.base.Detector.columns`); all of them as soon as one detector
    does not say. Of :data:`STORABLE`, those no ``where`` reads and no detector reads
    but through :attr:`~audit.detectors.base.Detector.stored_reads` may stay in the store.
    """
    from audit.detectors import DETECTORS

    needed = set(FRAMEWORK_COLUMNS)
    per_row: set[str] = set()
    hashed: set[str] = set()
    for rule in rules:
        detector = DETECTORS.get(rule.detector)
        declared = detector.columns(rule)
        if declared is None:
            return RuleInputs(list(available))
        where = _where_fields(rule)
        needed |= declared | where
        per_row |= where | (declared - detector.stored_reads)
        hashed |= declared & detector.stored_reads
    keys = tuple(sorted({key for name in needed if (key := tag_key(name))}))
    columns = [name for name in available if name in needed]
    stored = tuple(name for name in STORABLE if name in columns and name not in per_row)
    return RuleInputs(columns, keys, stored, tuple(name for name in stored if name in hashed))


def _where_fields(rule: Rule) -> set[str]:
    """What a rule's ``where`` reads, as :func:`~audit.detectors.base.field_columns` says it.

    From the spec's field names, checked against the compiled filter: should they ever
    disagree, the filter's own columns (whole ``tags``) are used.
    """
    fields = field_columns(*spec_fields(rule.where_spec))
    roots = {"tags" if tag_key(name) else name for name in fields}
    if not set(rule.where.meta.root_names()) <= roots:
        return set(rule.where.meta.root_names())
    return fields


def plan(requests: pl.LazyFrame, rules: Sequence[Rule], ctx: DetectContext) -> list[RulePlan]:
    """Build every rule's query. The flagged requests are computed when the plans are
    collected; a detector may compute small intermediate results here, one rule after the
    other (its groups' hashes or figures, to choose what it reads next).

    ``requests`` get a :data:`~audit.detectors.base.POSITION` unless they carry one (the
    report's rows do, as a column of the frame they are held in).
    """
    from audit.detectors import DETECTORS

    if POSITION not in requests.collect_schema().names():
        requests = requests.with_row_index(POSITION)
    plans: list[RulePlan] = []
    for rule in rules:
        detector = DETECTORS.get(rule.detector)
        found = detector.detect(requests.filter(rule.where), rule, ctx)
        flagged = Flagged(rule, detector, found, requests, ctx.stored)
        records, findings = _outputs(flagged.lazy(), rule, detector)
        plans.append(RulePlan(rule, records, findings, flagged))
    return plans


def _evidence_columns(detector: Detector) -> list[str]:
    return list(dict.fromkeys([*FRAMEWORK_COLUMNS, "savings_usd", *detector.evidence]))


def _outputs(
    flagged: pl.LazyFrame, rule: Rule, detector: Detector
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """A rule's flagged requests as savings records and as findings per subject."""
    findings = (
        flagged.group_by("subject")
        .agg(
            pl.len().alias("records"),
            pl.col("cost_usd").sum().alias("cost_usd"),
            pl.col("savings_usd").sum().alias("savings_usd"),
            pl.struct(_evidence_columns(detector))
            .sort_by(["savings_usd", "record_id"], descending=[True, False])
            .head(EVIDENCE_ITEMS)
            .alias("evidence"),
            *[expr.alias(name) for name, expr in detector.details(rule).items()],
        )
        .filter(
            (pl.col("records") >= rule.params["min_records"])
            & (pl.col("savings_usd") >= float(rule.params["min_savings_usd"]))
        )
    )
    return flagged.select("record_id", "cost_usd", "savings_usd"), findings


def savings_total(plans: Sequence[RulePlan]) -> pl.LazyFrame:
    """One row, ``savings_usd``: each flagged request's largest saving across rules, summed."""
    if not plans:
        return pl.LazyFrame({"savings_usd": [None]}, schema={"savings_usd": MONEY})
    flagged = pl.concat([p.records for p in plans], how="vertical_relaxed")
    per_request = flagged.group_by("record_id").agg(pl.col("savings_usd").max())
    return per_request.select(pl.col("savings_usd").sum())


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return json_number(value)
    if hasattr(value, "isoformat"):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ") if hasattr(value, "hour") else value.isoformat()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class _Placeholders(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _words(value: Any) -> str:
    if isinstance(value, Decimal):
        return format_usd(value)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value if v is not None)
    if isinstance(value, float):
        return f"{value:,.1f}" if value >= 1000 else f"{value:g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def findings_from(rule_plan: RulePlan, frame: pl.DataFrame) -> list[dict[str, Any]]:
    """The collected findings of one rule as report dicts (worded, JSON-ready)."""
    rule = rule_plan.rule
    out: list[dict[str, Any]] = []
    for row in frame.to_dicts():
        cost = to_decimal(row.pop("cost_usd"))
        savings = to_decimal(row.pop("savings_usd"))
        evidence = [{k: _plain(v) for k, v in item.items()} for item in row.pop("evidence") or []]
        subject, records = row.pop("subject"), int(row.pop("records"))
        words = _Placeholders(
            {k: _words(v) for k, v in rule.params.items()}
            | {k: _words(v) for k, v in row.items()}
            | {
                "subject": str(subject),
                "records": f"{records:,}",
                "cost": format_usd(cost),
                "savings": format_usd(savings),
                "rule": rule.id,
            }
        )
        out.append(
            {
                "rule": rule.id,
                "detector": rule.detector,
                "severity": rule.severity,
                "title": rule.title,
                "subject": str(subject),
                "records": records,
                "cost_usd": json_number(cost),
                "savings_usd": json_number(savings),
                "evidence": evidence,
                "details": {k: _plain(v) for k, v in sorted(row.items())},
                "recommendation": rule.recommendation.format_map(words),
                "_savings": savings,
            }
        )
    return out


def rank(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Highest savings first, then severity, rule and subject (deterministic)."""
    ordered = sorted(
        findings,
        key=lambda f: (-f["_savings"], _SEVERITY_ORDER[f["severity"]], f["rule"], f["subject"]),
    )
    for item in ordered:
        item.pop("_savings", None)
    return ordered
