"""Where the bundled price tables and rules live, installed or in a checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def bundled_dir(name: str) -> Path:
    """The shipped ``price_tables`` or ``rules`` folder.

    A wheel carries them inside the package (``audit/_bundled/``); a source checkout or an
    editable install reads the top-level folders directly, so edits show up without
    reinstalling.
    """
    packaged = _PACKAGE / "_bundled" / name
    if packaged.is_dir():
        return packaged
    return _PACKAGE.parent / name
