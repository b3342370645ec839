"""The YAML loader: kubectl's scalar semantics, strictness, limits, locations."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile.errors import ManifestSyntaxError, RenderSecurityError
from reconcile.render import HAVE_C_PARSER, YamlLimits, load_yaml
from reconcile.render._yaml import STR, _resolve_plain


def values(text: str, **kw: Any) -> list[Any]:
    return [d.value for d in load_yaml(text.encode(), "f.yaml", **kw)]


def test_the_c_parser_is_installed() -> None:
    assert HAVE_C_PARSER


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yes", True),
        ("On", True),
        ("y", True),
        ("NO", False),
        ("off", False),
        ("n", False),
        ("true", True),
        ("~", None),
        ("null", None),
        ("0755", 0o755),
        ("0x1F", 31),
        ("0b101", 5),
        ("1_000", 1000),
        ("-12", -12),
        ("+7", 7),
        ("0", 0),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        ("-.inf", -math.inf),
        ("=", "="),
        ("2026-01-01", "2026-01-01"),
        ("2026-01-01T10:00:00Z", "2026-01-01T10:00:00Z"),
        ("1.2.3", "1.2.3"),
        (".", "."),
        ("'yes'", "yes"),
        ('"0755"', "0755"),
        ("!!str 12", "12"),
        ("!!int '12'", 12),
        ("<<", "<<"),
        ("nothing", "nothing"),
    ],
)
def test_scalars_resolve_as_kubectl_does(text: str, expected: Any) -> None:
    [doc] = values(f"v: {text}\n")
    assert doc == {"v": expected}


def test_floats_as_go_parses_them() -> None:
    # PyYAML wants a dot; go-yaml v2 (kubectl) does not.
    assert values("a: 0E0\nb: 1e3\nc: .5\n") == [{"a": 0.0, "b": 1000.0, "c": 0.5}]


def test_nan() -> None:
    [doc] = values("v: .nan\n")
    assert math.isnan(doc["v"])


def test_keys_become_strings_as_kubectl_sends_them() -> None:
    assert values("y: 1\n2: b\n~: c\n1.5: d\n") == [{"true": 1, "2": "b", "null": "c", "1.5": "d"}]


def test_documents_keep_index_and_line_and_empty_ones_are_dropped() -> None:
    docs = load_yaml(b"# c\n---\na: 1\n---\n---\n# only a comment\n---\n\nb: 2\n", "f.yaml")
    assert [(d.value, d.index, d.line) for d in docs] == [({"a": 1}, 0, 3), ({"b": 2}, 3, 9)]


def test_the_kube_prometheus_bare_equals_enum_loads() -> None:
    # PyYAML's safe loader fails on this ("could not determine a constructor").
    text = "enum:\n- =\n- '!='\n- =~\n"
    with pytest.raises(yaml.constructor.ConstructorError):
        yaml.load(text, Loader=yaml.CSafeLoader)
    assert values(text) == [{"enum": ["=", "!=", "=~"]}]


def test_merge_keys_and_aliases_are_expanded_as_copies() -> None:
    [doc] = values("base: &b {x: 1, z: 2}\nd:\n  <<: *b\n  z: 3\ne: *b\n")
    assert doc == {"base": {"x": 1, "z": 2}, "d": {"x": 1, "z": 3}, "e": {"x": 1, "z": 2}}
    doc["e"]["x"] = 9
    assert doc["base"]["x"] == 1


def test_syntax_error_has_file_line_and_column() -> None:
    with pytest.raises(ManifestSyntaxError) as info:
        load_yaml(b"a: 1\n---\nb: [1, 2\nc: 3\n", "apps/web.yaml")
    err = info.value
    assert err.origin is not None
    assert (err.origin.file, err.origin.document, err.origin.line) == ("apps/web.yaml", 1, 4)
    assert err.origin.column is not None
    assert str(err).startswith("apps/web.yaml:4:")


def test_duplicate_keys_are_errors_naming_both_lines() -> None:
    with pytest.raises(ManifestSyntaxError) as info:
        load_yaml(b"metadata:\n  name: a\n  labels: {}\n  name: b\n", "d.yaml")
    assert info.value.origin is not None
    assert info.value.origin.line == 4
    assert "duplicate key 'name' (first at line 2)" in str(info.value)


def test_duplicate_keys_differing_only_by_spelling_of_the_same_value() -> None:
    with pytest.raises(ManifestSyntaxError, match="duplicate key '1'"):
        load_yaml(b"1: a\n0x1: b\n", "d.yaml")
    with pytest.raises(ManifestSyntaxError, match="duplicate key 'true'"):
        load_yaml(b"yes: a\n'true': b\n", "d.yaml")


def test_billion_laughs_fails_fast_within_the_alias_budget() -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        refs = ",".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    bomb = ("\n".join(lines) + "\n").encode()
    started = time.perf_counter()
    with pytest.raises(RenderSecurityError, match="aliases expand"):
        load_yaml(bomb, "bomb.yaml")
    assert time.perf_counter() - started < 5  # a sanity bound, not a benchmark


def test_recursive_alias_is_an_error() -> None:
    with pytest.raises(ManifestSyntaxError, match="recursive alias"):
        load_yaml(b"a: &x [1, *x]\n", "r.yaml")


def test_non_utf8_bytes_are_located() -> None:
    with pytest.raises(ManifestSyntaxError, match="not UTF-8: byte 0xff") as info:
        load_yaml(b"a: 1\n---\nb: ok\nc: \xff\n", "bin.yaml")
    assert info.value.origin is not None
    assert (info.value.origin.line, info.value.origin.column, info.value.origin.document) == (
        4,
        4,
        1,
    )


def test_utf16_with_a_byte_order_mark_is_accepted() -> None:
    assert load_yaml("a: é\n".encode("utf-16"), "f.yaml")[0].value == {"a": "é"}


def test_utf8_byte_order_mark_is_skipped() -> None:
    assert load_yaml(b"\xef\xbb\xbfa: 1\n", "f.yaml")[0].value == {"a": 1}


def test_oversized_file_is_refused_before_parsing() -> None:
    with pytest.raises(RenderSecurityError, match="over the limit of 10"):
        load_yaml(b"a: 12345678901\n", "big.yaml", limits=YamlLimits(max_file_bytes=10))


def test_deep_nesting_is_refused_without_crashing() -> None:
    # The C composer recurses: 100,000 levels would overflow its stack.
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(ManifestSyntaxError, match="nesting deeper than 256"):
        load_yaml(deep, "deep.yaml")
    # Deep enough to crash the C composer on a thread's usual stack: it gets
    # a stack of its own, and construction refuses it with a location.
    with pytest.raises(ManifestSyntaxError, match="nesting deeper than 256") as info:
        load_yaml(b"a:\n  b: " + b"[" * 20_000 + b"]" * 20_000, "deep.yaml")
    assert info.value.origin is not None
    assert info.value.origin.line == 2
    block = "".join(f"{' ' * i}k{i}:\n" for i in range(300)) + " " * 300 + "v\n"
    with pytest.raises(ManifestSyntaxError, match="nesting deeper"):
        load_yaml(block.encode(), "deep.yaml")


def test_unknown_tags_are_errors() -> None:
    with pytest.raises(ManifestSyntaxError, match="unsupported tag '!Ref'"):
        load_yaml(b"a: !Ref thing\n", "t.yaml")


def test_invalid_explicit_scalar_is_an_error() -> None:
    with pytest.raises(ManifestSyntaxError, match="'abc' is not a valid int"):
        load_yaml(b"a: !!int abc\n", "t.yaml")


def test_pure_python_parser_gives_the_same_values() -> None:
    text = b"a: yes\nb: [1, 0755, =]\nc: &x {d: null}\ne: *x\n---\nf: 1.5\n"
    assert [d.value for d in load_yaml(text, "f", pure=True)] == [
        d.value for d in load_yaml(text, "f")
    ]


# PyYAML's dumper quotes every string its YAML 1.1 resolver would read as
# another type. kubectl (go-yaml v2) reads a few more plain scalars as
# non-strings (y/n, 0E0): strings our resolver reads as non-strings are left
# out, as PyYAML could write them plain.
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=12).filter(lambda s: _resolve_plain(s) == STR)
)
_json = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(max_size=8).filter(lambda s: _resolve_plain(s) == STR),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_json)
def test_round_trip_through_pyyaml_dump(value: Any) -> None:
    text = yaml.safe_dump({"v": value}, allow_unicode=True)
    assert values(text) == [yaml.load(text, Loader=yaml.CSafeLoader)]
