"""Generic JSONL: attribution and tags read from free-form ``metadata`` and extra keys.

The adapter decodes ``metadata`` once per line and runs ``json_path_match`` only on the rows
where the two readers could disagree. These tests pin, branch by branch, the result of the
plain per-key ``json_path_match`` reading it replaced: numbers as that reader writes them,
nested values never attributed, the last of two duplicate keys, escaped key names, nesting
too deep to read, and a chunk the bulk decode cannot read at all.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.config import Config
from audit.normalize import ERROR_COLUMN, clean_text
from audit.sources import generic_jsonl
from audit.sources.base import ReadOptions
from audit.sources.generic_jsonl import (
    ATTRIBUTION,
    LINE_SCHEMA,
    GenericJsonl,
    _metadata_values,
    _top_level,
)
from audit.sources.jsonlines import LINE, decode_objects

from conftest import load, write

BASE = '"timestamp":"2026-06-01T00:00:00Z","model":"gpt-4o","input_tokens":10,"output_tokens":1'
#: Each attribution column reads only the metadata key of its own name.
OWN_KEYS = ReadOptions(config=Config(attribution={}))

DEEP = "[" * 130 + "]" * 130
MID = "[" * 70 + "]" * 70
#: Metadata JSON texts (as written in the line) covering every way the readers may differ.
TRICKY = [
    '{"team":"a","user":"  b  ","project":"","app":"   "}',
    '{"team":1.5e3,"user":10,"project":-0.0,"app":1E2,"purpose":true,"environment":false,'
    '"session_id":100000000000000000000,"key_name":-0,"prompt_hash":2.5E-3,"api_key":0}',
    '{"team":{"x":1},"user":["a"],"project":"[x","app":"{y","purpose":{},"environment":[]}',
    '{"team":"0","user":"-1","project":"12abc"}',
    '{"team":"x","other":{"team":{"a":1}},"user":"u"}',
    '{"outer":{"team":"nested-only"}}',
    '{"note":"the \\"team\\" key","user":"n"}',
    '{"team":"\\u00e9quipe\\n","user":"a\\/b","project":"C:\\\\dir"}',
    '{"team":"mid","x":' + MID + "}",
    '{"team":null,"user":"null"}',
    "{}",
    "42",
    "[1,2]",
    "null",
    '"plain string metadata"',
    '"{\\"team\\":\\"from-a-string\\"}"',
    '"{\\"team\\":\\"first\\",\\"team\\":\\"last\\",\\"user\\":null,\\"user\\":\\"u2\\"}"',
    '"{\\"te\\\\u0061m\\":\\"escaped-key\\"}"',
    '"{\\"team\\":\\"lone\\",\\"x\\":\\"\\\\ud800\\"}"',
    '"{\\"team\\":\\"deep\\",\\"x\\":' + DEEP + '}"',
    '"{\\"team\\" : [1], \\"user\\":\\"spaced\\"}"',
    '"{\\"te\\\\u0061m\\":\\"escaped-first\\",\\"team\\":\\"plain-last\\"}"',
]
#: Metadata the bulk decode refuses, so its whole chunk is read key by key.
UNDECODABLE = '"{\\"team\\":\\"oops\\""'


def line(request_id: str, metadata: str | None = None, extra: str = "") -> str:
    """A valid generic line; ``metadata`` and ``extra`` are raw JSON text."""
    meta = "" if metadata is None else f',"metadata":{metadata}'
    return "{" + BASE + f',"request_id":"{request_id}"{extra}{meta}' + "}"


def read(path: Path, options: ReadOptions | None = None) -> pl.DataFrame:
    """The adapter's raw output (before the shared checks), all chunks."""
    frames = [lf.collect() for lf in GenericJsonl().read(path, options or ReadOptions())]
    return pl.concat(frames)


def by_id(frame: pl.DataFrame) -> dict[str, dict]:
    return {row["record_id"]: row for row in frame.to_dicts()}


def per_key_reading(meta: pl.Expr, key: str) -> pl.Expr:
    """The reading the adapter used to do: one ``json_path_match`` per key and row."""
    value = pl.when(meta.str.starts_with("{")).then(meta.str.json_path_match(f"$.{key}"))
    return clean_text(
        pl.when(~value.str.starts_with("{") & ~value.str.starts_with("[")).then(value)
    )


@pytest.mark.parametrize("decodable", [True, False], ids=["bulk-decode", "undecodable-chunk"])
def test_attribution_matches_per_key_json_path_match(tmp_path: Path, decodable: bool) -> None:
    metas = TRICKY if decodable else [*TRICKY, UNDECODABLE]
    path = write(
        tmp_path / "log.jsonl", "\n".join(line(f"r{i}", m) for i, m in enumerate(metas)) + "\n"
    )
    got = read(path, OWN_KEYS).sort("source_line")
    lines = pl.DataFrame({LINE: path.read_text().splitlines()})
    meta = pl.col(LINE).str.json_path_match("$.metadata")
    expected = lines.select(per_key_reading(meta, name).alias(name) for name in ATTRIBUTION)
    assert got.height == len(metas)
    for name in ATTRIBUTION:
        assert got.get_column(name).to_list() == expected.get_column(name).to_list(), name


def test_numbers_and_booleans_keep_json_path_match_spelling(tmp_path: Path) -> None:
    path = write(tmp_path / "log.jsonl", line("n", TRICKY[1]) + "\n")
    row = read(path, OWN_KEYS).row(0, named=True)
    assert (row["team"], row["user"], row["project"], row["app"]) == (
        "1500.0",
        "10",
        "-0.0",
        "100.0",
    )
    assert (row["purpose"], row["environment"], row["key_name"]) == ("true", "false", "-0.0")
    assert (row["session_id"], row["prompt_hash"], row["api_key"]) == ("1e+20", "0.0025", "0")


def test_string_metadata_is_read_as_json_path_match_reads_it(tmp_path: Path) -> None:
    metas = TRICKY[14:]
    path = write(
        tmp_path / "log.jsonl", "\n".join(line(f"s{i}", m) for i, m in enumerate(metas)) + "\n"
    )
    rows = by_id(read(path, OWN_KEYS))
    assert rows["s0"]["team"] is None  # free text: nothing to attribute
    assert json.loads(rows["s0"]["tags"]) == {"metadata": "plain string metadata"}
    assert rows["s1"]["team"] == "from-a-string"
    assert (rows["s2"]["team"], rows["s2"]["user"]) == ("last", "u2")  # duplicate: last wins
    assert rows["s3"]["team"] == "escaped-key"
    assert rows["s4"]["team"] is None  # a lone surrogate: the text is not valid JSON
    assert rows["s5"]["team"] is None  # nested past the reader's depth limit
    assert (rows["s6"]["team"], rows["s6"]["user"]) == (None, "spaced")
    assert rows["s7"]["team"] == "plain-last"


def test_nested_value_falls_through_to_the_next_key_and_stays_in_tags(tmp_path: Path) -> None:
    path = write(
        tmp_path / "log.jsonl",
        line("a", '{"user":{"id":1},"end_user":"eu","team":["x"],"department":"d"}') + "\n",
    )
    row = by_id(read(path))["a"]
    assert (row["user"], row["team"]) == ("eu", "d")
    assert json.loads(row["tags"])["user"] == {"id": 1}


def test_top_level_field_then_first_configured_key_wins(tmp_path: Path) -> None:
    text = "\n".join(
        [
            line("top", '{"team":"meta"}', extra=',"team":"top"'),
            line("blank-top", '{"team":"meta"}', extra=',"team":"  "'),
            line("order", '{"stage":"s","env":"e","feature":"f","use_case":"u"}'),
            line("padded", '{"env":"   ","stage":"  dev  "}'),
        ]
    )
    rows = by_id(read(write(tmp_path / "log.jsonl", text + "\n")))
    assert rows["top"]["team"] == "top"
    assert rows["blank-top"]["team"] == "meta"
    assert (rows["order"]["environment"], rows["order"]["purpose"]) == ("e", "f")
    assert rows["padded"]["environment"] == "dev"


@pytest.mark.parametrize("chunk_bytes", [64 * 1024 * 1024, 2048], ids=["one-chunk", "chunks"])
def test_keys_that_appear_only_late_are_still_read(tmp_path: Path, chunk_bytes: int) -> None:
    lines = [line(f"early{i}", f'{{"region":"r{i}"}}') for i in range(300)]
    lines += [
        line("late", '{"team":"late-team","feature":"late-feature","session":7}'),
        line("late-undecodable", UNDECODABLE),
        line("last", '{"user":"last-user"}'),
    ]
    path = write(tmp_path / "log.jsonl", "\n".join(lines) + "\n")
    rows, rejects = load("generic-jsonl", path, ReadOptions(chunk_bytes=chunk_bytes))
    got = by_id(rows)
    assert rejects.height == 0
    assert (got["late"]["team"], got["late"]["purpose"], got["late"]["session_id"]) == (
        "late-team",
        "late-feature",
        "7",
    )
    assert got["last"]["user"] == "last-user"
    assert got["early0"]["team"] is None
    assert json.loads(got["early299"]["tags"]) == {"region": "r299"}


def test_only_keys_written_in_the_chunk_get_a_column() -> None:
    frame = pl.DataFrame(
        {"meta": ['{"region":"eu","team":"t"}', '{"prefix":"user"}', "free text", None]}
    )
    out, found = _metadata_values(frame, ["user", "team", "project"])
    assert found == {"team", "user"}  # "user" is only a value here: read, harmlessly
    assert out.get_column("m.team").to_list() == ["t", None, None, None]
    assert out.get_column("m.user").to_list() == [None, None, None, None]
    assert "m.project" not in out.columns
    out, found = _metadata_values(frame.head(0), ["user", "team"])
    assert (found, out.columns) == (set(), ["meta"])


def test_nested_values_do_not_defeat_the_bulk_decode(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without the chunk-wide fallback a failed bulk decode raises: the nested values must be
    # routed around it, or one nested value would send its whole chunk down the slow path.
    monkeypatch.setattr(generic_jsonl, "PolarsError", ZeroDivisionError)
    frame = pl.DataFrame(
        {"meta": ['{"team":{"a":1},"user":"u"}', '{"team" : [1]}', '{"user":2.5}']}
    )
    out, found = _metadata_values(frame, ["team", "user"])
    assert found == {"team", "user"}
    assert out.get_column("m.team").to_list() == [None, None, None]
    assert out.get_column("m.user").to_list() == ["u", None, "2.5"]


def test_a_key_written_only_with_escapes_is_read(tmp_path: Path) -> None:
    path = write(
        tmp_path / "log.jsonl", line("e", '"{\\"te\\\\u0061m\\":\\"only-escaped\\"}"') + "\n"
    )
    assert read(path).item(0, "team") == "only-escaped"


def test_escaped_key_names_are_found_in_the_line(tmp_path: Path) -> None:
    text = "\n".join(
        [
            line("plain", '{"team":"t1"}', extra=',"ticket":"T-1"'),
            line("esc", None, extra=',"tick\\u0065t":"T-2","met\\u0061data":{"team":"t2"}'),
            line("none", None),
        ]
    )
    rows = by_id(read(write(tmp_path / "log.jsonl", text + "\n")))
    assert json.loads(rows["plain"]["tags"]) == {"team": "t1", "ticket": "T-1"}
    assert rows["esc"]["team"] == "t2"
    assert json.loads(rows["esc"]["tags"]) == {"team": "t2", "ticket": "T-2"}
    assert rows["none"]["tags"] is None


def test_all_null_parsed_columns_keep_their_types(tmp_path: Path) -> None:
    flat = write(tmp_path / "flat.jsonl", line("f", '{"team":"t"}') + "\n")
    wrapped = write(
        tmp_path / "wrapped.jsonl",
        '{"timestamp":"2026-06-01T00:00:00Z","response":{"id":"chatcmpl-1","model":"gpt-4o",'
        '"usage":{"prompt_tokens":10,"completion_tokens":2,"cost":0.001}}}\n',
    )
    flat_out, wrapped_out = read(flat), read(wrapped)
    assert flat_out.schema == wrapped_out.schema
    assert flat_out.schema["input_tokens"] == pl.Int64
    assert (flat_out.item(0, "input_tokens"), wrapped_out.item(0, "input_tokens")) == (10, 10)


def test_first_parse_reason_still_wins(tmp_path: Path) -> None:
    bad = (
        '{"timestamp":"nope","model":"gpt-4o","input_tokens":"x","output_tokens":1,'
        '"status":"weird","request_id":"bad"}'
    )
    reason = by_id(read(write(tmp_path / "log.jsonl", bad + "\n")))["bad"]["_error"]
    assert reason == "input_tokens: 'x' is not a whole number"


# ------------------------------------------------------- a top-level key, read from its mention

_KEYS = st.sampled_from(["metadata", "region", "model", "timestamp", "x", "metadata"])
_TEXT = st.lists(
    st.sampled_from(['"', "\\", "{", "}", "[", "]", ":", ",", " ", "a", "é", "😀", "metadata"]),
    max_size=8,
).map("".join)


def _string(draw: st.DrawFn) -> str:
    """A JSON string as some writer spells it: escaped or not, or a ``\\u`` escape."""
    spelled = json.dumps(draw(_TEXT), ensure_ascii=draw(st.booleans()))
    return draw(st.sampled_from([spelled, '"metadata"', '"\\u006detadata"', '"\\ud800"']))


@st.composite
def _value(draw: st.DrawFn, depth: int = 0) -> str:
    kinds = ["number", "string", "literal"] + (["array", "object"] if depth < 3 else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "number":
        return draw(st.sampled_from(["0", "-0", "1.50", "1e3", "2.5E-3", "10" * 12, "7"]))
    if kind == "string":
        return _string(draw)
    if kind == "literal":
        return draw(st.sampled_from(["null", "true", "false"]))
    if kind == "array":
        items = draw(st.lists(_value(depth + 1), max_size=3))
        return "[" + ",".join(items) + "]"
    return draw(_object(depth + 1))


@st.composite
def _object(draw: st.DrawFn, depth: int = 0) -> str:
    space = draw(st.sampled_from(["", " "]))
    members = []
    for key, value in draw(st.lists(st.tuples(_KEYS, _value(depth)), max_size=4)):
        escaped = f'"\\u{ord(key[0]):04x}{key[1:]}"'  # the key spelled with an escape
        name = draw(st.sampled_from([json.dumps(key), json.dumps(key), escaped]))
        members.append(name + space + ":" + space + value)
    return "{" + space + ("," + space).join(members) + space + "}"


@st.composite
def _line(draw: st.DrawFn) -> str:
    text = draw(_object())
    damage = draw(st.sampled_from(["", "cut", "front", "junk", "deep"]))
    if damage == "front":  # broken before the key: the rest of the line still parses
        return "{" + draw(st.sampled_from([",", "1,", '"a":,'])) + text[1:]
    if damage == "cut":
        return text[:-1]
    if damage == "junk":
        return text + draw(st.sampled_from([" ", "}", ",", "x"]))
    if damage == "deep":  # past json_path_match's depth limit, which the decoders ignore
        return text[:-1] + ("," if len(text) > 2 else "") + '"deep":' + "[" * 130 + "]" * 130 + "}"
    return text


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(_line(), min_size=1, max_size=20), key=st.sampled_from(["metadata", "x"]))
def test_a_top_level_key_is_read_as_json_path_match_reads_the_line(
    lines: list[str], key: str
) -> None:
    """Whatever the line, its key's value is what ``json_path_match`` finds in the whole
    line: read from the key's first mention where that is a top-level key of a line the
    adapter decoded, else from the whole line."""
    frame = pl.DataFrame(
        {LINE: lines, ERROR_COLUMN: [None] * len(lines)}, schema_overrides={ERROR_COLUMN: pl.String}
    )
    decoded = decode_objects(frame, LINE_SCHEMA)
    got = decoded.select(
        _top_level(pl.col(LINE), key, pl.col(ERROR_COLUMN).is_null()).alias("got"),
        pl.col(LINE).str.json_path_match(f"$.{key}").alias("expected"),
    )
    assert got.get_column("got").to_list() == got.get_column("expected").to_list()


def test_a_key_is_read_from_its_mention_or_else_from_the_whole_line() -> None:
    lines = [
        line("last", '{"team":"a"}'),  # from the mention: the tail only
        '{"metadata":{"team":"first"},' + BASE + "}",  # from the mention: most of the line
        # the first mention is nested, a string value, or the key written twice
        '{"nested":{"metadata":{"team":"no"}},' + BASE + ',"metadata":{"team":"late"}}',
        '{"purpose":"metadata",' + BASE + ',"metadata":{"team":"after"}}',
        '{"metadata":{"team":"one"},"metadata":{"team":"two"}}',
        '{"purpose":"metadata",' + BASE + "}",
        '{"x":"\\ud800","metadata":{"team":"lone surrogate elsewhere"}}',
        '{"x":' + "[" * 130 + "]" * 130 + ',"metadata":{"team":"too deep to read"}}',
    ]
    frame = pl.DataFrame({LINE: lines})
    got = frame.select(_top_level(pl.col(LINE), "metadata", pl.lit(True))).to_series()
    assert got.to_list() == [
        '{"team":"a"}',
        '{"team":"first"}',
        '{"team":"late"}',
        '{"team":"after"}',
        '{"team":"two"}',
        None,
        None,  # as json_path_match reads these lines: not at all
        None,
    ]
