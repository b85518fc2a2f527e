"""Source adapters: one module per export format, each registered with ``@SOURCES.register``.

Detection is by content: every adapter scores the file's head and the best score above
:data:`MIN_SCORE` wins. A file nobody recognises is reported with the closest candidates.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from audit.registry import Registry
from audit.sources.base import ReadOptions, Sample, SourceAdapter

SOURCES: Registry[SourceAdapter] = Registry("source format")

MIN_SCORE = 0.5
#: How much of a file the previous file's (distinctive) format sniffs to claim it.
LIKELY_SNIFF_BYTES = 16 * 1024

AdapterT = TypeVar("AdapterT", bound=type[SourceAdapter])


def source(cls: AdapterT) -> AdapterT:
    """Class decorator registering an adapter under its ``name``: the one line a new format adds."""
    SOURCES.register(cls.name)(cls())
    return cls


@dataclass(frozen=True)
class Detection:
    """The chosen adapter (or None) and every adapter's score, best first."""

    adapter: SourceAdapter | None
    scores: list[tuple[str, float]]

    def candidates(self, limit: int = 3) -> list[str]:
        """Names of the closest formats, for a "format not recognised" message."""
        return [name for name, score in self.scores[:limit] if score > 0]


def detect(sample: Sample, likely: SourceAdapter | None = None) -> Detection:
    """Score every registered adapter on the sample and pick the best.

    ``likely`` is the format of the previous file in the same folder. When that format is
    :attr:`~SourceAdapter.distinctive` and claims the sample with full confidence, no
    other format could win, so the others are not scored: a folder of thousands of
    session transcripts is detected at the cost of one sniffer per file.
    """
    if sample.is_binary:
        return Detection(None, [])
    if likely is not None and likely.distinctive is not None:
        score = likely.sniff(sample.narrowed(LIKELY_SNIFF_BYTES))
        if score >= likely.distinctive:
            return Detection(likely, [(likely.name, score)])
    scores = sorted(
        ((name, adapter.sniff(sample)) for name, adapter in SOURCES.items()),
        key=lambda item: (-item[1], item[0]),
    )
    best_name, best = scores[0] if scores else ("", 0.0)
    adapter = SOURCES.get(best_name) if best >= MIN_SCORE else None
    return Detection(adapter, scores)


def detect_path(path: Path, options: ReadOptions | None = None) -> Detection:
    """Detect the format of a file on disk."""
    return detect(Sample.of(path, options))


# Registration happens on import; keep this list in the order `tokaudit formats` shows.
from audit.sources import (  # noqa: E402, F401
    anthropic_billing,
    bedrock,
    claude_code,
    focus,
    generic_jsonl,
    generic_tabular,
    helicone,
    langfuse,
    litellm,
    openai_billing,
    openrouter,
    openrouter_api,
    portkey,
)

__all__ = [
    "MIN_SCORE",
    "SOURCES",
    "Detection",
    "ReadOptions",
    "Sample",
    "SourceAdapter",
    "detect",
    "detect_path",
    "source",
]
