"""Python callables and Jsonnet programs as renderers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from reconcile.errors import (
    DuplicateObjectError,
    ManifestValidationError,
    RenderError,
    RenderSecurityError,
    ToolError,
)
from reconcile.objects import Manifest, Origin
from reconcile.render import DirectoryArtifact, FunctionRenderer, JsonnetRenderer

ART = DirectoryArtifact(Path())


def cm(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "n"}}


def test_sync_function_gets_the_artifact_and_its_output_is_copied() -> None:
    shared = cm("a")
    seen: list[Any] = []

    def fn(artifact: Any) -> list[Any]:
        seen.append(artifact)
        return [shared, Manifest(cm("b"), Origin("custom.py", 0, 7))]

    art = ART
    out = anyio.run(FunctionRenderer(fn).render, art)
    assert seen == [art]
    assert [m.ref.name for m in out] == ["a", "b"]
    assert str(out[0].origin).endswith("fn (document 0) via function")
    assert out[1].origin == Origin("custom.py", 0, 7)
    out[0].obj["metadata"]["name"] = "changed"
    assert shared["metadata"]["name"] == "a"


def test_async_function_and_generator_output() -> None:
    async def fn(artifact: Any) -> Any:
        await anyio.lowlevel.checkpoint()
        return (cm(f"c{i}") for i in range(3))

    out = anyio.run(FunctionRenderer(fn, name="gen").render, ART)
    assert [m.ref.name for m in out] == ["c0", "c1", "c2"]
    assert out[2].origin == Origin("gen", 2, renderer="function")


def test_function_errors_become_render_errors() -> None:
    def broken(artifact: Any) -> list[dict[str, Any]]:
        raise KeyError("values")

    with pytest.raises(RenderError, match="render function failed: KeyError"):
        anyio.run(FunctionRenderer(broken).render, ART)


def test_function_output_is_validated() -> None:
    with pytest.raises(ManifestValidationError, match="not int"):
        anyio.run(FunctionRenderer(lambda a: [1]).render, ART)  # type: ignore[list-item]
    with pytest.raises(DuplicateObjectError):
        anyio.run(FunctionRenderer(lambda a: [cm("x"), cm("x")]).render, ART)
    with pytest.raises(ManifestValidationError, match="kind is missing"):
        anyio.run(FunctionRenderer(lambda a: [{"apiVersion": "v1"}]).render, ART)


def test_cache_key_uses_the_given_key() -> None:
    def fn(artifact: Any) -> list[Any]:
        return []

    assert FunctionRenderer(fn, key="1").cache_key() == FunctionRenderer(fn, key="1").cache_key()
    assert FunctionRenderer(fn, key="1").cache_key() != FunctionRenderer(fn, key="2").cache_key()


def write(root: Path, name: str, text: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_jsonnet_ext_vars_tla_and_library_paths(tmp_path: Path) -> None:
    write(
        tmp_path,
        "lib/k.libsonnet",
        "{ cm(name, ns):: " + '{apiVersion: "v1", kind: "ConfigMap",'
        " metadata: {name: name, namespace: ns}} }",
    )
    write(
        tmp_path,
        "env/main.jsonnet",
        "local k = import 'k.libsonnet';\n"
        "function(replicas=1) {\n"
        "  app: { web: k.cm('web-' + std.extVar('env'), std.extVar('ns')) },\n"
        "  more: [k.cm('r' + replicas, 'x'), k.cm('code-' + std.extVar('num'), 'x')],\n"
        "}\n",
    )
    renderer = JsonnetRenderer(
        "env/main.jsonnet",
        ext_vars={"env": "prod", "ns": "shop"},
        ext_code={"num": "1 + 1"},
        tla_code={"replicas": "3"},
        library_paths=["lib"],
    )
    out = anyio.run(renderer.render, DirectoryArtifact(tmp_path))
    assert [str(m.ref) for m in out] == [
        "ConfigMap shop/web-prod",
        "ConfigMap x/r3",
        "ConfigMap x/code-2",
    ]
    assert [m.origin.file for m in out if m.origin] == [
        "env/main.jsonnet#app.web",
        "env/main.jsonnet#more[0]",
        "env/main.jsonnet#more[1]",
    ]
    tla = JsonnetRenderer(
        "env/main.jsonnet",
        ext_vars={"env": "a", "ns": "b"},
        ext_code={"num": "0"},
        tla_vars={"replicas": "s"},
        library_paths=["lib"],
    )
    assert anyio.run(tla.render, DirectoryArtifact(tmp_path))[1].ref.name == "rs"


def test_jsonnet_error_is_a_tool_error_with_location(tmp_path: Path) -> None:
    write(tmp_path, "main.jsonnet", "{ a: std.extVar('missing') }\n")
    with pytest.raises(ToolError, match="undefined external variable: missing") as info:
        anyio.run(JsonnetRenderer("main.jsonnet").render, DirectoryArtifact(tmp_path))
    assert "main.jsonnet:1" in info.value.stderr


def test_jsonnet_import_leaving_the_root_is_refused(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.libsonnet").write_text("{}")
    write(
        tmp_path,
        "main.jsonnet",
        f"import '{os.path.relpath(outside, tmp_path)}/secret.libsonnet'\n",
    )
    with pytest.raises(RenderSecurityError, match="leaves the artifact root"):
        anyio.run(JsonnetRenderer("main.jsonnet").render, DirectoryArtifact(tmp_path))
    with pytest.raises(RenderSecurityError):
        anyio.run(JsonnetRenderer("../x.jsonnet").render, DirectoryArtifact(tmp_path))


def test_jsonnet_scalar_output_is_invalid(tmp_path: Path) -> None:
    write(tmp_path, "main.jsonnet", "[1]\n")
    with pytest.raises(ManifestValidationError, match="not a scalar"):
        anyio.run(JsonnetRenderer("main.jsonnet").render, DirectoryArtifact(tmp_path))
