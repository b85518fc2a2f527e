"""YAML loading for the files users edit (price tables, rules, tokaudit.yaml).

Two things the stock loader does not give us: every mapping remembers the line it started
on, so validation errors can say ``file:line``; and numbers with a fraction are read as
exact :class:`~decimal.Decimal` from their source text, so ``0.1375`` is never a float.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from audit.errors import ConfigError


class LineDict(dict[str, Any]):
    """A mapping that knows the 1-based line it started on in its file."""

    line: int = 0


# libyaml's parser when PyYAML was built with it (the wheels are): the bundled price tables
# load about ten times faster, which every command pays at start-up. Marks, and so the
# file:line of every error, are the same with either parser.
_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[valid-type,misc]
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in result:
            raise ConfigError(f"duplicate key {key!r}", line=key_node.start_mark.line + 1)
        result[key] = loader.construct_object(value_node, deep=True)
    return result


def _construct_float(loader: _Loader, node: yaml.ScalarNode) -> Decimal:
    text = str(loader.construct_scalar(node)).replace("_", "")
    try:
        return Decimal(text)
    except InvalidOperation as exc:  # .inf / .nan: not a price anyone means
        raise ConfigError(
            f"{text!r} is not a finite number", line=node.start_mark.line + 1
        ) from exc


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)


def load_yaml(path: Path) -> Any:
    """Parse a YAML file; any syntax or structure error names the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", path=path) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError("not UTF-8 text", path=path) from exc
    try:
        return yaml.load(text, Loader=_Loader)
    except ConfigError as exc:
        raise ConfigError(exc.message, path=path, line=exc.line) from exc
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise ConfigError(f"invalid YAML: {exc.problem}", path=path, line=line) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", path=path) from exc


def line_of(value: Any, default: int | None = None) -> int | None:
    """The line a parsed mapping started on, when known."""
    return value.line if isinstance(value, LineDict) and value.line else default
