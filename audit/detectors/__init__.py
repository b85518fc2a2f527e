"""Waste detectors: one module per detector kind, each registered with ``@detector``.

Rules (YAML under ``rules/``) choose a kind and tune it; see :mod:`audit.detectors.base`.
"""

from __future__ import annotations

from typing import TypeVar

from audit.detectors.base import Detector
from audit.registry import Registry

DETECTORS: Registry[Detector] = Registry("detector")
DetectorT = TypeVar("DetectorT", bound=type[Detector])


def detector(cls: DetectorT) -> DetectorT:
    """Class decorator registering a detector kind under its ``name``."""
    DETECTORS.register(cls.name)(cls())
    return cls


# Registration on import, in the order `tokaudit rules list` shows kinds.
from audit.detectors import (  # noqa: E402, F401
    cache_miss,
    context_bloat,
    filter_kind,
    output_waste,
    overqualification,
    regeneration,
    retry_storm,
    stale_key,
)

__all__ = ["DETECTORS", "Detector", "detector"]
