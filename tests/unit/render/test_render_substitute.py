"""Variable substitution with Flux's semantics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile.errors import (
    ConfigurationError,
    DuplicateObjectError,
    RenderError,
    SubstitutionError,
)
from reconcile.objects import Manifest, Origin
from reconcile.render import (
    Chain,
    DirectoryArtifact,
    FunctionRenderer,
    Substitute,
    load_yaml,
    substitute_text,
    variables_from,
)

ART = DirectoryArtifact(Path())


def run(sub: Substitute, *objs: dict[str, Any]) -> list[dict[str, Any]]:
    manifests = [Manifest(o, Origin("m.yaml", i, 1)) for i, o in enumerate(objs)]
    return [m.obj for m in anyio.run(sub.transform, manifests, ART)]


def cm(data: dict[str, Any], name: str = "c", **meta: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "n", **meta},
        "data": data,
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${A}", "a"),
        ("x-${A}-y", "x-a-y"),
        ("${MISSING}", ""),
        ("${MISSING:=dflt}", "dflt"),
        ("${MISSING:-dflt}", "dflt"),
        ("${EMPTY:-dflt}", "dflt"),
        ("${EMPTY:=dflt}", "dflt"),
        ("${EMPTY-dflt}", ""),
        ("${EMPTY=dflt}", ""),
        ("${MISSING-dflt}", "dflt"),
        ("${MISSING:=${A}-${B:=b}}", "a-b"),
        ("$${A}", "${A}"),
        ("$A and $", "$A and $"),
        ("${#A}", "1"),
        ("${NAME^}", "Web"),
        ("${NAME^^}", "WEB"),
        ("${UPPER,}", "wEB"),
        ("${UPPER,,}", "web"),
    ],
)
def test_expressions(text: str, expected: str) -> None:
    variables = {"A": "a", "EMPTY": "", "NAME": "web", "UPPER": "WEB"}
    assert substitute_text(text, variables) == expected


def test_strict_mode_refuses_undefined_variables() -> None:
    assert substitute_text("${X:=ok}", {}, strict=True) == "ok"
    with pytest.raises(SubstitutionError, match="variable 'X' is not defined"):
        substitute_text("${X}", {}, strict=True)


def test_unsupported_and_unterminated_expressions_are_errors() -> None:
    with pytest.raises(SubstitutionError, match="unterminated"):
        substitute_text("${A", {"A": "a"})
    with pytest.raises(SubstitutionError, match="unsupported expression"):
        substitute_text("${A:?x}", {"A": "a"})


@given(st.text())
def test_text_without_dollar_is_unchanged(text: str) -> None:
    text = text.replace("$", "")
    assert substitute_text(text, {"A": "1"}) == text


@given(st.text(alphabet=st.characters(blacklist_characters="${}")))
def test_escaped_expressions_survive(name: str) -> None:
    assert substitute_text(f"$${{{name}}}", {}) == f"${{{name}}}"


def test_values_are_retyped_as_flux_reparses_them() -> None:
    [obj] = run(
        Substitute({"R": "3", "ON": "true", "S": "web"}),
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "${S}", "namespace": "n", "labels": {"${S}-key": "v"}},
            "spec": {
                "replicas": "${R}",
                "paused": "${ON}",
                "text": "${R} replicas",
                "gone": "${UNSET}",
                "list": ["${S}", 1],
            },
        },
    )
    assert obj["metadata"] == {"name": "web", "namespace": "n", "labels": {"web-key": "v"}}
    assert obj["spec"] == {
        "replicas": 3,
        "paused": True,
        "text": "3 replicas",
        "gone": None,
        "list": ["web", 1],
    }


def test_strict_error_names_object_origin_and_field() -> None:
    with pytest.raises(SubstitutionError) as info:
        run(Substitute({}, strict=True), cm({"k": "ok"}, name="a"), cm({"k": "${NOPE}"}, name="b"))
    err = info.value
    assert err.origin == Origin("m.yaml", 1, 1)
    assert err.path == "data.k"
    assert "ConfigMap n/b" in str(err)


def test_opt_out_annotation_or_label() -> None:
    sub = Substitute({"A": "x"})
    for field in ("annotations", "labels"):
        meta = {field: {"kustomize.toolkit.fluxcd.io/substitute": "disabled"}}
        obj = cm({"k": "${A}"}, "c", **meta)
        assert run(sub, obj) == [obj]
    assert run(sub, cm({"k": "${A}"}))[0]["data"] == {"k": "x"}


def test_unchanged_manifests_are_passed_through() -> None:
    objs = [cm({"k": "plain"}, name="a"), cm({"k": "${A}"}, name="b")]
    manifests = [Manifest(o, Origin("m.yaml", i)) for i, o in enumerate(objs)]
    out = anyio.run(Substitute({"A": "1"}).transform, manifests, ART)
    assert out[0] is manifests[0]
    assert out[1].obj["data"] == {"k": 1}
    assert objs[1]["data"] == {"k": "${A}"}  # the input is not modified


def test_variables_from_configmaps_and_secrets_inline_wins() -> None:
    configmap = {"kind": "ConfigMap", "data": {"A": "from-cm", "B": "line1\nline2"}}
    secret = {"kind": "Secret", "data": {"C": "c2VjcmV0"}, "stringData": {"D": "plain"}}
    assert variables_from(configmap) == {"A": "from-cm", "B": "line1line2"}
    sub = Substitute({"A": "inline"}, sources=[configmap, secret])
    assert sub.variables == {"A": "inline", "B": "line1line2", "C": "secret", "D": "plain"}
    assert "secret" not in sub.cache_key()
    with pytest.raises(ConfigurationError):
        variables_from({"kind": "Secret", "data": {"X": "not base64!"}})
    with pytest.raises(ConfigurationError):
        variables_from({"kind": "Pod"})


def test_invalid_variable_names_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="variable name 'a-b' is invalid"):
        Substitute({"a-b": "x"})


def test_substitution_that_creates_a_duplicate_fails() -> None:
    with pytest.raises(DuplicateObjectError):
        run(Substitute({"N": "a"}), cm({}, name="a"), cm({}, name="${N}"))


def test_chain_runs_substitution_after_a_renderer() -> None:
    def objects(artifact: Any) -> list[dict[str, Any]]:
        return [cm({"env": "${ENV:=dev}"})]

    chain = Chain(FunctionRenderer(objects, key="v1"), Substitute({"ENV": "prod"}))
    [m] = anyio.run(chain.render, ART)
    assert m.obj["data"] == {"env": "prod"}
    assert "substitute" in chain.cache_key()


_VALUES = st.sampled_from(["3", "true", "web", "", "1.5", "a b", "0755", "null", "x:y"])
_TEMPLATES = st.sampled_from(
    ["${A}", "x-${B}", "${C:=5}", "${MISSING}", "${MISSING:-yes}", "plain", "${A}${B}", "$${A}"]
)
_LEAVES = _TEMPLATES | st.integers(-5, 5) | st.booleans()


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["A", "B", "C"]), _VALUES),
    st.dictionaries(
        st.sampled_from(["k1", "k2", "${A}-key"]),
        _LEAVES | st.lists(_LEAVES, max_size=3) | st.dictionaries(st.just("nested"), _LEAVES),
        max_size=3,
    ),
)
def test_same_result_as_fluxs_text_round_trip(variables: dict[str, str], data: Any) -> None:
    """Flux: dump to YAML, substitute in the text, parse again. We: substitute in place."""
    obj = cm({}, "c")
    obj["metadata"]["namespace"] = "ns"  # PyYAML writes "n" plain; kubectl reads it as false
    obj["data"] = data
    text = yaml.safe_dump(obj, default_flow_style=False, width=1 << 20)
    try:
        expected = load_yaml(substitute_text(text, variables).encode(), "x")[0].value
    except RenderError:
        return  # Flux fails where the text stops being YAML (a value with ": ")
    if len(expected.get("data") or {}) != len(data):
        return  # two keys became one after substitution: a duplicate for both
    assert run(Substitute(variables), obj) == [expected]
