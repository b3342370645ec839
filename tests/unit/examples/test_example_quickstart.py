"""The quickstart, as the README, the docs and examples/quickstart_api.py show it."""

from __future__ import annotations

import json
import re
import runpy
import shlex
import tempfile
from pathlib import Path

import anyio
import pytest
from examples_support import EXAMPLES

from reconcile import InMemoryCluster, LocalSource, Reconciler, YamlRenderer
from reconcile.cli import main

REPO = EXAMPLES.parent


def commands_in(markdown: Path) -> list[str]:
    """The ``reconcile ...`` lines of the bash blocks of a Markdown file."""
    blocks = re.findall(r"```bash\n(.*?)```", markdown.read_text(), flags=re.S)
    return [
        line.split("  #")[0].strip()
        for block in blocks
        for line in block.splitlines()
        if line.startswith("reconcile ")
    ]


def test_the_readme_runs_the_quickstart() -> None:
    assert "reconcile sync examples/quickstart" in commands_in(REPO / "README.md")


@pytest.mark.parametrize(
    "command",
    sorted(set(commands_in(REPO / "README.md") + commands_in(REPO / "docs" / "quickstart.md"))),
)
def test_documented_commands_run(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = shlex.split(command)[1:]
    if "--kubeconfig" in argv or "--context" in argv or "://" in command:
        pytest.skip("needs a real cluster or a Git server (tests/integration/reconciler)")
    monkeypatch.chdir(REPO)
    code = main([*argv, "--no-color"])
    out = capsys.readouterr()
    # 0: in sync or synced; 2: drift found (plan and diff on a fresh in-memory cluster).
    assert code in (0, 2), out.err
    assert "ConfigMap quickstart/web-config" in out.out


def test_sync_json_reports_every_object(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sync", str(EXAMPLES / "quickstart"), "-o", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["counts"] == {"created": 6}
    health = {o["ref"]["kind"]: o["health"]["status"] for o in report["objects"]}
    assert health["Greeting"] == "Current"
    assert health["Deployment"] == "InProgress"  # no controllers in the in-memory cluster


def test_a_second_pass_finds_nothing_to_do() -> None:
    """Custom resources included: the differ knows the CRDs the cluster learnt."""

    async def passes() -> None:
        reconciler = Reconciler(
            "quickstart",
            LocalSource(EXAMPLES / "quickstart", cache_dir=tempfile.mkdtemp()),
            YamlRenderer(),
            InMemoryCluster(),
        )
        assert (await reconciler.sync()).counts() == {"created": 6}
        plan = await reconciler.plan()
        assert plan.in_sync, [d.unified_diff() for d in plan.changes]
        again = await reconciler.sync()
        assert again.counts() == {"unchanged": 6}
        assert again.drift == ()

    anyio.run(passes)


def test_quickstart_api(capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(EXAMPLES / "quickstart_api.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "plan: 6 to create, 0 to change" in out
    assert "-  GREETING: edited by hand\n+  GREETING: hello from git" in out
    assert "healed: 'hello from git', drift was ['ConfigMap quickstart/web-config']" in out
