"""The ``reconcile`` command against the embedded in-memory cluster."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from reconcile.cli import main

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "quickstart"


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_sync_the_quickstart_shows_plan_diffs_health_and_inventory(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["sync", str(EXAMPLE), "--no-color"]) == 0
    out = capsys.readouterr().out
    assert "6 to create, 0 to change, 0 to prune" in out
    assert "+++ desired/ConfigMap quickstart/web-config" in out
    assert "+  GREETING: hello from git" in out
    assert "Current: CRD is established" in out
    assert "InProgress (LessReplicas)" in out  # no controllers: said honestly
    assert "inventory (6 objects):" in out
    assert "quickstart.reconcile.dev/Greeting quickstart/world" in out


def test_json_output_and_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sync", str(EXAMPLE), "-o", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["counts"] == {"created": 6}
    assert [c["type"] for c in result["conditions"]] == ["Ready", "Reconciling", "Stalled"]
    assert len(result["inventory"]) == 6
    # plan/diff on a fresh in-memory cluster: everything would be created -> 2.
    assert main(["plan", str(EXAMPLE), "-o", "json"]) == 2
    plan = json.loads(capsys.readouterr().out)
    assert len(plan["creates"]) == 6
    assert main(["sync", str(EXAMPLE), "--dry-run", "-o", "json"]) == 2
    capsys.readouterr()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "x.yaml").write_text("kind: [oops\n")
    assert main(["sync", str(broken), "-o", "json"]) == 1
    failed = json.loads(capsys.readouterr().out)
    assert "x.yaml:2:1" in failed["error"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["plan", str(empty)]) == 0  # nothing desired, nothing owned: in sync


def test_git_source_by_url(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    work = tmp_path / "work"
    shutil.copytree(EXAMPLE, work)
    env = [
        "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main",
    ]  # fmt: skip
    subprocess.run(["git", *env, "init", "-q", str(work)], check=True)
    subprocess.run(["git", *env, "-C", str(work), "add", "-A"], check=True)
    subprocess.run(["git", *env, "-C", str(work), "commit", "-qm", "x"], check=True)
    code = main(["diff", f"file://{work}", "--ref", "main", "--no-color"])
    out = capsys.readouterr().out
    assert code == 2
    assert "plan at main@sha1:" in out
    assert "+    image: nginx:1.27" in out or "image: nginx:1.27" in out


def test_usage_errors_exit_nonzero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sync", "/does/not/exist"]) != 0
    assert main(["sync", str(EXAMPLE), "--ref", "main"]) != 0


def test_wait_fails_when_an_object_does_not_become_current(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The in-memory cluster runs no Deployment controller: --wait must not pretend.
    assert main(["sync", str(EXAMPLE), "--wait", "--timeout", "0.5", "-o", "json"]) == 1
    result = json.loads(capsys.readouterr().out)
    web = next(o for o in result["objects"] if o["ref"]["kind"] == "Deployment")
    assert web["health"]["status"] == "InProgress"
    assert "not Current after 0.5 s" in web["message"]
