"""The detector contract and the rule model.

A *rule* (one YAML file under ``rules/``) names a *detector kind*, narrows the rows it looks
at with ``where``, tunes it with ``params`` and words the advice in ``recommendation``. A
detector kind is Python: given the month's priced request rows it returns one row per
*flagged request* with the dollars that request wasted. The framework (:mod:`.run`) turns
those into findings per subject, so every detector gets evidence, totals and
"never count the same dollar twice" for free.

A month can hold ten million requests and a detector typically flags a few thousand, so a
detector should decide *which* requests on the few columns that decision needs and name
them by :data:`POSITION`; the framework then fetches the rest of those requests' columns
(evidence, prices) for the flagged rows only, and computes :meth:`Detector.finish` on them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

import polars as pl

from audit.detectors.where import field_expr, tag_key
from audit.errors import StoreError
from audit.pricing import PriceBook

SEVERITIES = ("low", "medium", "high")

#: Columns every flagged request must have once complete (one row per flagged request).
RECORD_COLUMNS = ("record_id", "subject", "savings_usd")

#: The column numbering the rows a detector gets, each request its own number: what a
#: detector returns to name a flagged request without carrying its other columns along.
POSITION = "_position"


def code_of(name: str) -> str:
    """The column that holds ``name`` as integer codes, when the rows carry one.

    The report holds text with few distinct values (and ``tags``, and prices) as codes
    into small dictionaries; its rows carry each such column's codes beside its values,
    under this name. Equal codes mean equal values (two codes may still mean one value):
    grouping millions of rows by codes, then reading a value per group, costs a fraction
    of grouping them by text.
    """
    return f"_code:{name}"


@dataclass(frozen=True)
class Param:
    """A detector parameter: its type, default and meaning (shown by ``rules list``)."""

    kind: str  # int | float | str | bool | list[str] | dict[str,str]
    default: Any
    help: str


@dataclass(frozen=True)
class Rule:
    """A validated rule file."""

    id: str
    title: str
    description: str
    severity: str
    detector: str
    where: pl.Expr
    params: dict[str, Any]
    recommendation: str
    path: str
    line: int | None = None
    enabled: bool = True
    where_spec: Any = None


def hash_of(name: str) -> str:
    """The column that holds a 64-bit hash of ``name`` (:func:`stored_hash`) when the rows
    leave ``name`` in the store (see :attr:`DetectContext.stored`).

    Long text that is different on nearly every request (a prompt's hash, an id) is what
    costs a month's rows most of their memory; a detector that groups by it can group by
    this hash, then read the text of the few rows it compares (equal text, equal hashes).
    """
    return f"_hash:{name}"


#: A fixed seed for :func:`stored_hash`: hashes computed in one query and another agree.
_STORED_HASH_SEED = 0x7A0D


def stored_hash(column: pl.Expr) -> pl.Expr:
    """The :func:`hash_of` value of ``column``: null where it is null."""
    return pl.when(column.is_not_null()).then(column.hash(_STORED_HASH_SEED))


@dataclass(frozen=True)
class DetectContext:
    """What detectors may consult besides the rows."""

    book: PriceBook
    extra: dict[str, Any] = field(default_factory=dict)
    #: Columns of the rows that are read from the store rather than held in memory: by
    #: :data:`POSITION`, lazily (a scan of the month's stored parts). None when the rows
    #: hold every column. Only a detector that says it copes (:attr:`Detector.stored_reads`)
    #: is given rows without such a column, with its :func:`hash_of` instead; the framework
    #: reads them for the flagged requests itself.
    stored: pl.LazyFrame | None = None


def read_stored(stored: pl.LazyFrame, positions: pl.Series, names: Sequence[str]) -> pl.DataFrame:
    """``names`` of the rows at ``positions`` (with :data:`POSITION`), from ``stored``
    (:attr:`DetectContext.stored`), in one scan.

    Committed parts never change, so every position is found; should one not be (the
    store deleted or replaced under a running report), the report stops rather than show
    findings without their ids.
    """
    wanted = positions.unique()
    rows = stored.filter(pl.col(POSITION).is_in(wanted.implode()))
    read = rows.select(POSITION, *names).collect(engine="streaming")
    if read.height != wanted.len():
        raise StoreError(
            f"{wanted.len() - read.height} of the month's rows vanished from the store "
            "while the report read it; run the report again"
        )
    return read


#: The columns :func:`caller` reads.
CALLER_COLUMNS = ("user", "key_name", "api_key", "app")


def caller() -> pl.Expr:
    """Who made a request, as a report would name them: user, else key name, key, app."""
    return pl.coalesce(
        pl.col("user"),
        pl.col("key_name"),
        pl.col("api_key"),
        pl.col("app"),
        pl.lit("(unknown caller)"),
    )


def key_label() -> pl.Expr:
    """An API key as people know it: its name, else its (masked) id."""
    return pl.coalesce(pl.col("key_name"), pl.col("api_key"))


def money(value: Decimal | float | int | str) -> pl.Expr:
    """A money literal (exact decimal)."""
    return pl.lit(str(value)).str.to_decimal(scale=15)


class Detector(ABC):
    """One detector kind. Subclasses set the class attributes and implement :meth:`detect`."""

    #: Kebab-case kind name used in rule files (``detector: retry-storm``).
    name: ClassVar[str]
    #: One line for ``tokaudit rules list`` and the README.
    summary: ClassVar[str]
    #: Accepted ``params`` with defaults.
    params: ClassVar[dict[str, Param]] = {}
    #: Extra per-request columns shown in a finding's evidence (record id, time, model,
    #: cost and savings are always shown).
    evidence: ClassVar[tuple[str, ...]] = ()
    #: Columns among :meth:`columns` this detector can do without in ``rows`` when the
    #: report leaves them in the store (:attr:`DetectContext.stored`): it then groups by
    #: their :func:`hash_of` and reads the values of the rows it needs
    #: (:func:`~audit.detectors._groups.with_stored`). Evidence, :meth:`finish` and
    #: :meth:`details` read them as usual: the framework fetches them for flagged rows.
    stored_reads: ClassVar[frozenset[str]] = frozenset()

    @abstractmethod
    def detect(self, rows: pl.LazyFrame, rule: Rule, ctx: DetectContext) -> pl.LazyFrame:
        """Flagged requests, one row each, with :data:`POSITION` and the columns computed here.

        ``rows`` are the month's priced request rows already narrowed by the rule's
        ``where``, each with its :data:`POSITION`. A column of the request the output
        leaves out (``record_id``, evidence, what :meth:`details` or :meth:`finish` read)
        is added by the framework from ``rows`` by position, for the flagged requests only:
        so the detector needs only the columns its decision reads. Once complete, the rows
        have :data:`RECORD_COLUMNS`: ``savings_usd`` is this request's avoidable dollars
        (capped at its cost by the framework), from here or from :meth:`finish`.

        The result may be lazy all the way, or rest on small results computed here (per
        group figures, the positions worth a closer look): at ten million requests, one
        narrow pass that picks the few rows to order costs less than ordering them all.
        """

    def finish(self, rule: Rule) -> dict[str, pl.Expr]:
        """Columns computed on the flagged requests once complete (``name: expr``).

        For what reads request columns only the flagged requests need, typically the
        saving at the request's prices: computed here, it is computed for a few thousand
        requests instead of being carried through a detector's work on millions.
        """
        return {}

    def details(self, rule: Rule) -> dict[str, pl.Expr]:
        """Per-finding aggregations usable as ``{placeholders}`` in the recommendation."""
        return {}

    def columns(self, rule: Rule) -> set[str] | None:
        """The input columns :meth:`detect`, :meth:`finish`, :meth:`details` and the
        evidence read.

        The report holds only the columns its rules need in memory (beside the ``where``
        filter's and the framework's own), which is what keeps a month of millions of
        requests small. A ``tags.<key>`` name stands for that key of ``tags`` (the report
        may then hold only the keys read; ``tags`` itself means all of it);
        :func:`field_columns` turns field names into these. None, the default, means every
        column: a detector that does not say is never starved, it only costs more memory.
        """
        return None


def field_columns(*names: str) -> set[str]:
    """What field names read, for :meth:`Detector.columns`: the columns behind them (a
    derived field's inputs), except that a ``tags.<key>`` field stays itself, so the report
    can hold just that key of ``tags``."""
    out: set[str] = set()
    for name in names:
        out |= {name} if tag_key(name) else set(field_expr(name).meta.root_names())
    return out
