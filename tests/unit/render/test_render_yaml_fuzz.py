"""Whatever the bytes, the loader returns values or raises a RenderError: never anything else."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconcile.errors import RenderError
from reconcile.render import YamlLimits, load_yaml

_LIMITS = YamlLimits(max_file_bytes=4096, max_alias_nodes=1000, max_depth=32)
_FUZZ = bool(os.environ.get("RECONCILE_FUZZ"))

# YAML-ish fragments make the parser go deeper than random bytes do.
_FRAGMENTS = st.sampled_from(
    [
        "a",
        ": ",
        "- ",
        "\n",
        "  ",
        "[",
        "]",
        "{",
        "}",
        ", ",
        "&x ",
        "*x",
        "<<: ",
        "---\n",
        "'",
        '"',
        "!!int ",
        "!!str ",
        "!t ",
        "? ",
        "|\n",
        ">-\n",
        "#",
        "yes",
        "0755",
        "=",
        "~",
        "1e3",
        "\t",
        "\\",
        "%YAML 1.1\n",
        "...\n",
        "\x00",
        "\ufeff",
        "é",
    ]
)
_TEXT = st.lists(_FRAGMENTS, max_size=60).map("".join)


def _check(data: bytes) -> None:
    error: RenderError | None = None
    try:
        docs = load_yaml(data, "fuzz.yaml", limits=_LIMITS)
    except RenderError as exc:
        error = exc
        docs = []
    if error is not None:
        assert error.origin is not None
        assert error.origin.file == "fuzz.yaml"
    for doc in docs:
        assert doc.line >= 1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TEXT)
def test_yaml_like_text(text: str) -> None:
    _check(text.encode("utf-8"))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes(data: bytes) -> None:
    _check(data)


@pytest.mark.slow
@pytest.mark.skipif(not _FUZZ, reason="set RECONCILE_FUZZ=1 (the nox fuzz session)")
@settings(
    max_examples=int(os.environ.get("RECONCILE_FUZZ_EXAMPLES", "200000")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@given(_TEXT | st.binary(max_size=400))
def test_fuzz_long(data: str | bytes) -> None:
    _check(data.encode("utf-8") if isinstance(data, str) else data)
