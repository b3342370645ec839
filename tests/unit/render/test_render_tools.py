"""Finding the external tools, and the CI script that builds helm ahead."""

from __future__ import annotations

import functools
import os
import re
import sys
import time
from pathlib import Path

import anyio
import pytest

from reconcile.errors import ToolError
from reconcile.render import tools
from reconcile.render.tools import run_tool

REPO = Path(__file__).resolve().parents[3]


def test_ci_script_builds_the_same_helm_version() -> None:
    script = (REPO / ".ci/setup.d/40-helm.sh").read_text()
    assert re.search(rf'^HELM_VERSION="{re.escape(tools.HELM_VERSION)}"$', script, re.MULTILINE)
    assert f'HELM_MODULE="{tools.HELM_MODULE}"' in script


def test_ci_script_builds_the_same_kustomize_version() -> None:
    script = (REPO / ".ci/setup.d/41-kustomize.sh").read_text()
    version = re.escape(tools.KUSTOMIZE_VERSION)
    assert re.search(rf'^KUSTOMIZE_VERSION="{version}"$', script, re.MULTILINE)
    assert f'KUSTOMIZE_MODULE="{tools.KUSTOMIZE_MODULE}"' in script


def test_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("RECONCILE_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert tools.cache_dir() == tmp_path / "reconcile"
    monkeypatch.setenv("RECONCILE_CACHE_DIR", str(tmp_path / "c"))
    assert tools.helm_cache_path() == tmp_path / f"c/tools/helm-{tools.HELM_VERSION}/helm"


def test_missing_tools_are_tool_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RECONCILE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("RECONCILE_HELM", raising=False)
    with pytest.raises(ToolError, match="helm not found"):
        tools.find_helm()
    with pytest.raises(ToolError, match="not found"):
        tools.find_helm("/nonexistent/helm")
    with pytest.raises(ToolError, match="not found"):
        tools.ensure_helm("/nonexistent/helm")
    with pytest.raises(ToolError, match="no Go toolchain"):
        tools.build_helm(go="no-such-go")
    with pytest.raises(ToolError, match="no Go toolchain"):
        tools.build_kustomize(go="no-such-go")
    with pytest.raises(ToolError, match="no standalone kustomize"):
        tools.ensure_kustomize(build=False)
    with pytest.raises(ToolError, match="kustomize binary '/nonexistent' not found"):
        tools.find_kustomize("/nonexistent")


def test_kubectl_is_run_as_kubectl_kustomize(tmp_path: Path) -> None:
    kubectl = tmp_path / "kubectl"
    kubectl.write_text("#!/bin/sh\n")
    kubectl.chmod(0o755)
    assert tools.find_kustomize(str(kubectl)) == [str(kubectl), "kustomize"]
    kustomize = tmp_path / "kustomize"
    kustomize.write_text("#!/bin/sh\n")
    kustomize.chmod(0o755)
    assert tools.find_kustomize(str(kustomize)) == [str(kustomize)]


def _wait_for(path: Path) -> None:
    for _ in range(200):
        if path.exists() and path.read_text():
            return
        time.sleep(0.05)


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_run_tool_output_failure_and_missing_binary() -> None:
    out = anyio.run(functools.partial(run_tool, _python("print('x' * 300000)"), tool="py"))
    assert out == b"x" * 300000 + b"\n"
    failing = _python("import sys; sys.stderr.write('bad input'); sys.exit(3)")
    with pytest.raises(ToolError, match=r"py failed \(exit 3\): bad input") as info:
        anyio.run(functools.partial(run_tool, failing, tool="py"))
    assert info.value.stderr == "bad input"
    with pytest.raises(ToolError, match="binary not found: /no/such/tool"):
        anyio.run(functools.partial(run_tool, ["/no/such/tool"], tool="t"))


def test_run_tool_env_is_added_to_the_environment() -> None:
    code = "import os; print(os.environ['EXTRA'], 'PATH' in os.environ)"
    out = anyio.run(functools.partial(run_tool, _python(code), tool="py", env={"EXTRA": "1"}))
    assert out == b"1 True\n"


def test_run_tool_timeout_and_cancellation_kill_the_tool(tmp_path: Path) -> None:
    """The tool does not outlive a timeout or a cancelled render."""
    pidfile = tmp_path / "pid"
    sleeper = _python(
        f"import os, time; open({str(pidfile)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    )

    def gone() -> bool:
        pid = int(pidfile.read_text())
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            time.sleep(0.05)
        return False

    with pytest.raises(ToolError, match="timed out after 1 s"):
        anyio.run(functools.partial(run_tool, sleeper, tool="py", time_limit=1))
    assert gone()
    pidfile.unlink()

    async def main() -> None:
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(functools.partial(run_tool, sleeper, tool="py"))
                await anyio.to_thread.run_sync(_wait_for, pidfile)
                scope.cancel()

    anyio.run(main)
    assert gone()
