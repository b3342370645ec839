"""The fast path (yaml-rs) returns exactly what the reference loader returns, or steps aside."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconcile.errors import RenderError
from reconcile.render import _yaml
from reconcile.render._yaml import DEFAULT_LIMITS, _fast_load, _reference_load, load_yaml

pytestmark = pytest.mark.skipif(not _yaml.HAVE_YAML_RS, reason="yaml-rs is not installed")


def _same(data: bytes) -> bool:
    """Whether the fast path took ``data``; if it did, its answer is the reference's."""
    fast = _fast_load(data, DEFAULT_LIMITS)
    if fast is None:
        return False
    reference = _reference_load(data, "x.yaml", DEFAULT_LIMITS)
    # repr: NaN equals NaN, and 0 differs from 0.0 and from False.
    assert repr([(d.value, d.index, d.line, d.column) for d in fast]) == repr(
        [(d.value, d.index, d.line, d.column) for d in reference]
    )
    return True


@pytest.mark.parametrize(
    "text",
    [
        "a: yes\n",
        "a: [on, off]\n",
        "y: 1\n",
        "a: 0755\n",
        "a: 08\n",
        "a: 0b101\n",
        "a: -0x1f\n",
        "a:\n  - +0o17\n",
        "1: a\n",
        "true: a\n",
        "null: a\n",
        "~: a\n",
        "<<: {a: 1}\nb: 2\n",
        "a: !foo x\n",
        "a: ! 123\n",
        "a: !!binary aGk=\n",
        "a:\n  !=x y\n",
        "a: &x 1\nb: *x\n",
        "a: 1\na: 2\n",
        "%YAML 1.1\n---\na: 1\n",
        "a: 1\n...\n---\nb: 2\n",
        "a: 'no'\n",
        "a: " + "[" * 300 + "]" * 300 + "\n",
        "".join("  " * i + "a:\n" for i in range(300)),
    ],
)
def test_steps_aside_where_yaml_1_2_differs(text: str) -> None:
    """YAML 1.2 reads each differently, or may: the reference loader decides."""
    assert _fast_load(text.encode(), DEFAULT_LIMITS) is None


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\n",
        "# head\n---\nkind: A\n---\n\n# c\nkind: B\n---\n---\n  kind: C\n",
        "--- {a: 1}\n---\n--- {b: [1, 2]}\n",
        "a: [1.5, -2, 0, 0.5, .inf, -.Inf, .nan, 1e3, true, False, NULL, ~, '', =, 2026-01-01]\n",
        "a: |\n  x\n  y\nb: >-\n  p\n  q\nc: \"\\u00e9\\t\"\nd: 'it''s'\n",
        "rule: self.x != 'y' ||\n  !has(self.z) &&\n  has(self.w)\n",
        "a: b\r\nc: d\r\n",
    ],
)
def test_takes_what_both_read_alike(text: str) -> None:
    assert _same(text.encode())


_SCALARS = st.sampled_from(
    [
        "yes", "no", "on", "off", "y", "n", "Y", "N", "true", "False", "null", "~", "",
        "0755", "08", "0x1F", "-0x1f", "0o17", "0b11", "1_000", "1.5", ".5", "1.", "1e3",
        "-.inf", ".NaN", "=", "<<", "2026-01-01", "12:30", "!x", "&a", "*a", "- x", "a: b",
        "#c", "'q'", '"d"', "é", "a\nb", " lead", "trail ", "!= y", "&& z", "@x", "`x",
    ]
)  # fmt: skip
_KEYS = st.one_of(_SCALARS, st.integers(-5, 5), st.booleans())
_VALUES = st.recursive(
    st.one_of(_SCALARS, st.integers(), st.floats(allow_nan=False), st.booleans(), st.none()),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.dictionaries(st.text(min_size=1), _VALUES), min_size=1, max_size=3),
    st.sampled_from([None, True, False]),
)
def test_agrees_on_dumped_documents(documents: list[object], flow: bool | None) -> None:
    """Documents written as PyYAML writes them (YAML 1.1, every style)."""
    text = yaml.safe_dump_all(documents, default_flow_style=flow, allow_unicode=True)
    _same(text.encode())


_FRAGMENTS = st.sampled_from(
    [
        "a", "b", ": ", "- ", "\n", "  ", "[", "]", "{", "}", ", ", "&x ", "*x", "<<: ", "---\n",
        "'", '"', "!!str ", "!t ", "!= ", "&& ", "? ", "|\n", ">-\n", "#", " #", "yes", "no",
        "0755", "0x1", "-0", "1_0", "=", "~", "1e3", "\t", "\\", "...\n", "é", "\r\n",
    ]
)  # fmt: skip


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_FRAGMENTS, max_size=40).map("".join))
def test_agrees_on_yaml_like_text(text: str) -> None:
    """Whatever the text: where the fast path answers, the reference answers the same."""
    try:
        _same(text.encode())
    except RenderError:
        raise AssertionError("the fast path took a text the reference refuses") from None


def test_corpus(corpus_dir: Path) -> None:
    """Every corpus file loads the same; the big machine-written ones take the fast path."""
    taken = set()
    for path in sorted((corpus_dir / "manifests").rglob("*.yaml")):
        data = path.read_bytes()
        if b"{{" in data:
            continue  # helm templates
        if _same(data):
            taken.add(path.relative_to(corpus_dir / "manifests").as_posix())
        assert [d.value for d in load_yaml(data, "x.yaml")] == [
            d.value for d in _reference_load(data, "x.yaml", DEFAULT_LIMITS)
        ]
    assert "flux/gotk-components.yaml" in taken
    assert len(taken) > 100


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_agrees_on_any_text(text: str) -> None:
    """Any text: yaml-rs never crashes the loader, and agrees where it answers."""
    try:
        _same(text.encode())
    except RenderError:
        raise AssertionError("the fast path took a text the reference refuses") from None
