"""The JSON-lines reader: chunking, line numbers, encodings, and bad-line isolation."""

from __future__ import annotations

import json
from pathlib import Path
from unittest.mock import patch

import polars as pl
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from audit.sources import jsonlines
from audit.sources.jsonlines import (
    LineBlock,
    block_lines,
    decode_objects,
    iter_lines,
    text_lines,
)

SCHEMA = pl.Struct({"a": pl.String, "u": pl.Struct({"x": pl.String})})


def lines_of(path: Path, chunk_bytes: int = 1 << 20) -> pl.DataFrame:
    return pl.concat(list(iter_lines(path, chunk_bytes)))


def test_line_numbers_survive_blank_lines_crlf_bom_and_missing_final_newline(
    tmp_path: Path,
) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"a":1}\r\n\r\n  \n{"a":2}\n{"a":3}')
    frame = lines_of(path)
    assert frame["source_line"].to_list() == [1, 4, 5]
    assert frame["line"].to_list() == ['{"a":1}', '{"a":2}', '{"a":3}']


def test_invalid_utf8_rejects_only_that_line(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a":"ok"}\n{"a":"\xff\xfe"}\n{"a":"fine"}\n')
    frame = lines_of(path)
    assert frame[ERROR := "_error"].to_list() == [None, "invalid UTF-8 at byte 6", None]
    assert frame.filter(pl.col(ERROR).is_null())["line"].to_list() == ['{"a":"ok"}', '{"a":"fine"}']


def test_tiny_chunks_give_the_same_lines(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    body = "\n".join(json.dumps({"a": "v" * (i % 7), "i": i}) for i in range(200)) + "\n"
    path.write_text(body)
    assert lines_of(path, chunk_bytes=13).equals(lines_of(path))


def test_decode_isolates_bad_lines_and_keeps_the_rest() -> None:
    lines = pl.DataFrame(
        {
            "source_line": list(range(1, 41)),
            "line": [f'{{"a":"{i}"}}' for i in range(1, 41)],
            "_error": [None] * 40,
        },
        schema={"source_line": pl.Int64, "line": pl.String, "_error": pl.String},
    )
    lines = lines.with_columns(
        pl.when(pl.col("source_line") == 7)
        .then(pl.lit('{"a": '))
        .when(pl.col("source_line") == 33)
        .then(pl.lit('{"u": 5}'))
        .otherwise(pl.col("line"))
        .alias("line")
    )
    out = decode_objects(lines, SCHEMA)
    assert out.height == 40
    bad = dict(
        zip(
            out.filter(pl.col("_error").is_not_null())["source_line"],
            out.filter(pl.col("_error").is_not_null())["_error"],
            strict=True,
        )
    )
    assert set(bad) == {7, 33}
    assert bad[33] == "field 'u' is a number, expected an object"
    assert bad[7].startswith("invalid JSON at column")
    good = out.filter(pl.col("_error").is_null())
    assert good["doc"].struct.field("a").to_list() == [
        str(i) for i in range(1, 41) if i not in {7, 33}
    ]


def test_non_objects_and_deep_nesting_are_rejected_not_crashing() -> None:
    deep = '{"a":' * 5000 + "1" + "}" * 5000
    lines = pl.DataFrame(
        {
            "source_line": [1, 2, 3, 4],
            "line": ["[1,2]", '"text"', deep, '{"u":{"x":' + "[" * 3000 + "]" * 3000 + "}}"],
            "_error": [None] * 4,
        },
        schema={"source_line": pl.Int64, "line": pl.String, "_error": pl.String},
    )
    out = decode_objects(lines, SCHEMA)
    reasons = out["_error"].to_list()
    assert reasons[:2] == ["line is not a JSON object"] * 2
    assert all(reasons)  # every one of them is rejected with some reason


valid_line = st.builds(lambda a: json.dumps({"a": a}), st.text(max_size=20))
invalid_line = st.sampled_from(
    ['{"a":', "nope", '{"u": 1}', '{"a": {"b": 1}}', "{}}", '{"a":"x" "b":1}']
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.booleans(), valid_line, invalid_line), min_size=1, max_size=120))
def test_every_line_is_either_loaded_or_rejected(rows: list[tuple[bool, str, str]]) -> None:
    texts = [good if ok else bad for ok, good, bad in rows]
    lines = pl.DataFrame(
        {
            "source_line": list(range(1, len(texts) + 1)),
            "line": texts,
            "_error": [None] * len(texts),
        },
        schema={"source_line": pl.Int64, "line": pl.String, "_error": pl.String},
    )
    out = decode_objects(lines, SCHEMA)
    assert out["source_line"].to_list() == list(range(1, len(texts) + 1))
    rejected = set(out.filter(pl.col("_error").is_not_null())["source_line"])
    assert rejected == {i + 1 for i, (ok, _, _) in enumerate(rows) if not ok}
    decoded = out.filter(pl.col("_error").is_null())["doc"].struct.field("a").to_list()
    assert decoded == [json.loads(good)["a"] for ok, good, _ in rows if ok]


# Values of every JSON kind, so fields meet what the schema expects and what it does not.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**25), max_value=10**25)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | st.sampled_from(["{", "[x]", "{not json}", "\u00e9\u2028", "1e5"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("axuy"), inner),
    max_leaves=6,
)


def _object_line(fields: dict[str, object], spaced: bool, escaped: bool) -> str:
    text = json.dumps(fields, separators=(", ", ": ") if spaced else (",", ":"))
    if escaped:  # the same keys spelled with \u escapes, which a decoder must read as names
        text = text.replace('"a":', '"\\u0061":').replace('"x":', '"\\u0078":')
    return text


object_lines = st.builds(
    _object_line,
    st.dictionaries(st.sampled_from(["a", "u", "b", "a "]), json_values, max_size=3),
    st.booleans(),
    st.booleans(),
)


def _reference(lines: pl.DataFrame) -> list[object]:
    """Row by row with ``str.json_decode``: the decoded struct, or that the line failed."""
    out: list[object] = []
    for text in lines["line"]:
        try:
            out.append(pl.Series([text]).str.json_decode(SCHEMA).item())
        except pl.exceptions.PolarsError:
            out.append("refused")
    return out


def test_text_that_merely_starts_like_json_is_kept_as_text() -> None:
    texts = ['{"a":"{x}","u":{"x":"[1]"}}'] * 20 + ['{"a":{"x":1}}'] + ['{"a":"plain"}'] * 20
    lines = pl.DataFrame(
        {"source_line": list(range(1, 42)), "line": texts, "_error": [None] * 41},
        schema={"source_line": pl.Int64, "line": pl.String, "_error": pl.String},
    )
    out = decode_objects(lines, SCHEMA)
    assert (
        out["_error"].to_list()
        == [None] * 20 + ["field 'a' is an object, expected a single value"] + [None] * 20
    )
    assert out["doc"].struct.field("a").to_list()[:20] == ["{x}"] * 20
    assert out["doc"].struct.field("u").struct.field("x").to_list()[:20] == ["[1]"] * 20


def test_an_object_under_an_escaped_key_is_refused_as_the_reference_refuses_it() -> None:
    """``"\\u0061"`` is the key ``a``: an object there must not load as text."""
    texts = ['{"a":"plain"}'] * 20 + ['{"\\u0061":{"x":1}}', '{"u":{"\\u0078":[1]}}']
    lines = pl.DataFrame(
        {"source_line": list(range(1, 23)), "line": texts, "_error": [None] * 22},
        schema={"source_line": pl.Int64, "line": pl.String, "_error": pl.String},
    )
    out = decode_objects(lines, SCHEMA)
    assert out["_error"].to_list()[20:] == [
        "field 'a' is an object, expected a single value",
        "field 'u.x' is a list, expected a single value",
    ]
    assert out["_error"].to_list()[:20] == [None] * 20


def _python_lines(body: bytes, first_line: int) -> pl.DataFrame:
    """The reference split: ``bytes.split``, one Python object per line."""
    parts = body.split(b"\n")
    if body.endswith(b"\n"):
        parts.pop()
    numbers = list(range(first_line, first_line + len(parts)))
    return pl.DataFrame(
        {"source_line": numbers, "line": parts},
        schema={"source_line": pl.Int64, "line": pl.Binary},
    )


line_bytes = st.lists(
    st.sampled_from(
        [
            b"{",
            b"}",
            b'"usage"',
            b'"a":1',
            b" ",
            b"\t",
            b"\r",
            b"\x00",
            b"\xff",
            b"\xef\xbb\xbf",
            b"\xc3\xa9",
            b'"',
            b",",
            b"#",
            b"x" * 40,
        ]
    ),
    max_size=8,
).map(b"".join)


@settings(max_examples=200, deadline=None)
@given(st.lists(line_bytes, min_size=1, max_size=30), st.booleans(), st.integers(1, 10**6))
@example(lines=[b"", b"\x00"], final_newline=False, first_line=1)  # a lone NUL was lost
@example(lines=[b'{"a":1}\x00'], final_newline=True, first_line=1)
def test_native_line_split_equals_splitting_the_bytes(
    lines: list[bytes], final_newline: bool, first_line: int
) -> None:
    """Whatever the bytes (NUL, invalid UTF-8, CR, BOM, quotes), the native split gives the
    same numbered lines as ``bytes.split``, after and before the usage prefilter."""
    body = b"\n".join(lines) + (b"\n" if final_newline else b"")
    if not body:
        return
    block = LineBlock(first_line, body, body.count(b"\n") + (0 if final_newline else 1))
    reference = _python_lines(body, first_line)
    with patch.object(jsonlines, "_NATIVE_SPLIT_BYTES", 0):  # native even for small bodies
        assert text_lines(block_lines(block)).equals(text_lines(reference))
        needles = (b'"usage"', b"{")
        kept = block_lines(block, *needles)["source_line"].to_list()
    expected = reference.filter(
        pl.col("line").bin.contains(needles[0]) & pl.col("line").bin.contains(needles[1])
    )["source_line"].to_list()
    assert kept == expected


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.none() | st.text(max_size=30), max_size=60),
    st.integers(min_value=1, max_value=200),
)
def test_decode_slices_cover_every_line_once_and_stay_near_their_size(
    texts: list[str | None], size: int
) -> None:
    """Slices are consecutive, start at row 0, and each holds at most ``size`` bytes, or
    less than that before its last line (so a line longer than ``size`` ends its slice)."""
    lines = pl.Series(texts, dtype=pl.String)
    starts = jsonlines._slice_starts(lines, size)
    ends = [*starts[1:], len(texts)]
    assert starts[0] == 0
    assert all(a < b for a, b in zip(starts, ends, strict=True)) or not texts
    lengths = [len((text or "").encode()) for text in texts]
    for start, end in zip(starts, ends, strict=True):
        before_last, whole = sum(lengths[start : end - 1]), sum(lengths[start:end])
        assert whole <= size or before_last < size
    if sum(lengths) <= size:
        assert starts == [0]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(object_lines, min_size=1, max_size=40),
    st.none() | st.integers(min_value=1, max_value=300),
)
def test_the_decode_equals_decoding_line_by_line(texts: list[str], size: int | None) -> None:
    """Decoding in bulk, in slices of any size (None: the real one), loads exactly what
    ``str.json_decode`` loads line by line, and refuses (then diagnoses) exactly what it
    refuses: objects or arrays in text fields included."""
    lines = pl.DataFrame(
        {
            "source_line": list(range(1, len(texts) + 1)),
            "line": texts,
            "_error": [None] * len(texts),
        },
        schema={"source_line": pl.Int64, "line": pl.String, "_error": pl.String},
    )
    with patch.object(jsonlines, "_DECODE_SLICE_BYTES", size or jsonlines._DECODE_SLICE_BYTES):
        out = decode_objects(lines, SCHEMA)
    assert out["source_line"].to_list() == list(range(1, len(texts) + 1))
    got = [
        "refused" if error is not None else doc
        for doc, error in zip(out["doc"].to_list(), out["_error"].to_list(), strict=True)
    ]
    assert got == _reference(lines)
