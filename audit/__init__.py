"""tokaudit: an offline cost audit of LLM spend.

The package is usable without the CLI: ingest exports into a store, build a report for
a month, and render it in any registered format.
"""

from __future__ import annotations

__version__ = "0.1.0"
