"""Starting, failing and stopping control planes leaves nothing behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import reconcile.testing._controlplane as cp_module
from reconcile.errors import ControlPlaneError
from reconcile.testing import (
    AssetsUnavailableError,
    ControlPlane,
    ControlPlaneAssets,
    find_assets,
    skip_or_fail,
)

pytestmark = pytest.mark.integration


def processes_mentioning(text: str) -> list[int]:
    """PIDs of live processes whose command line contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().split()[2]
        except OSError:
            continue
        if text in cmdline and state != "Z" and int(entry.name) != os.getpid():
            found.append(int(entry.name))
    return found


def wait_until_gone(text: str, timeout: float = 20.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := processes_mentioning(text)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def test_start_stop_leaves_no_processes(assets: ControlPlaneAssets, tmp_path: Path) -> None:
    workdir = tmp_path / "cp"
    workdir.mkdir()
    with ControlPlane(assets=assets, workdir=workdir) as plane:
        assert plane.start_seconds is not None
        status, body = plane.request("GET", "/version")
        assert status == 200
        assert body["gitVersion"].startswith("v1.37.")
        assert len(processes_mentioning(str(workdir))) == 2  # etcd and kube-apiserver
        print(f"control plane started in {plane.start_seconds:.1f} s")
    assert wait_until_gone(str(workdir)) == []


def test_apiserver_that_cannot_start_names_binary_flags_and_log(
    assets: ControlPlaneAssets, tmp_path: Path
) -> None:
    workdir = tmp_path / "cp"
    workdir.mkdir()
    plane = ControlPlane(assets=assets, workdir=workdir, apiserver_flags=["--no-such-flag=1"])
    with pytest.raises(ControlPlaneError) as caught:
        plane.start()
    message = str(caught.value)
    assert "kube-apiserver exited during start" in message
    assert str(assets.kube_apiserver) in message
    assert "--no-such-flag=1" in message
    assert "unknown flag: --no-such-flag" in message  # from the log tail
    # etcd had started; the failure must have stopped it.
    assert wait_until_gone(str(workdir)) == []


def test_port_clash_is_retried(
    assets: ControlPlaneAssets, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    taken = blocker.getsockname()[1]
    real = cp_module.free_port
    handed: list[int] = []

    def clashing_free_port() -> int:
        # etcd gets two fresh ports; the first apiserver port is already taken.
        port = taken if len(handed) == 2 else real()
        handed.append(port)
        return port

    monkeypatch.setattr(cp_module, "free_port", clashing_free_port)
    try:
        with ControlPlane(assets=assets, workdir=tmp_path) as plane:
            assert taken in handed
            assert plane.port != taken
            assert plane.request("GET", "/readyz")[0] == 200
    finally:
        blocker.close()


def test_a_server_that_dies_is_reported(assets: ControlPlaneAssets, tmp_path: Path) -> None:
    with ControlPlane(assets=assets, workdir=tmp_path) as plane:
        plane.check_healthy()
        assert plane.etcd is not None
        assert plane.etcd.proc is not None
        plane.etcd.proc.kill()
        plane.etcd.proc.wait()
        with pytest.raises(ControlPlaneError, match=r"etcd is no longer running \(exit code -9\)"):
            plane.check_healthy()


def test_restart_apiserver_keeps_the_data(assets: ControlPlaneAssets, tmp_path: Path) -> None:
    with ControlPlane(assets=assets, workdir=tmp_path) as plane:
        body = {"metadata": {"name": "keep-me"}}
        assert plane.request("POST", "/api/v1/namespaces", body)[0] == 201
        plane.restart_apiserver()
        status, ns = plane.request("GET", "/api/v1/namespaces/keep-me")
        assert status == 200
        assert ns["metadata"]["name"] == "keep-me"


_CHILD = """
import sys, time
from pathlib import Path
from reconcile.testing import ControlPlane
plane = ControlPlane(workdir=Path(sys.argv[1]))
plane.start()
print("ready", flush=True)
time.sleep(600)
"""


@pytest.fixture
def child_plane(
    assets: ControlPlaneAssets, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    workdir = tmp_path / "child"
    workdir.mkdir()
    env = dict(
        os.environ,
        TEST_ASSET_KUBE_APISERVER=str(assets.kube_apiserver),
        TEST_ASSET_ETCD=str(assets.etcd),
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(workdir)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        assert len(processes_mentioning(str(workdir))) >= 2
        yield proc, workdir
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_ctrl_c_leaves_no_orphans(child_plane: tuple[subprocess.Popen[str], Path]) -> None:
    proc, workdir = child_plane
    proc.send_signal(signal.SIGINT)
    proc.wait(30)
    assert wait_until_gone(str(workdir)) == []


def test_killed_parent_leaves_no_orphans(child_plane: tuple[subprocess.Popen[str], Path]) -> None:
    proc, workdir = child_plane
    proc.kill()  # no handler, no atexit: only PDEATHSIG can clean up
    proc.wait(30)
    assert wait_until_gone(str(workdir)) == []


def _wait_for(predicate: object, timeout: float = 60.0) -> bool:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.25)
    return False


def test_controller_manager_deletes_namespaces_collects_garbage_and_makes_replicasets(
    tmp_path: Path,
) -> None:
    try:
        with_kcm = find_assets(controller_manager=True)
    except AssetsUnavailableError as exc:
        skip_or_fail(str(exc))
    with ControlPlane(assets=with_kcm, workdir=tmp_path, controller_manager=True) as plane:
        assert plane.kcm is not None
        assert plane.kcm.alive()
        ns = "/api/v1/namespaces"
        assert plane.request("POST", ns, {"metadata": {"name": "doomed"}})[0] == 201
        cms = f"{ns}/doomed/configmaps"
        status, owner = plane.request("POST", cms, {"metadata": {"name": "owner"}})
        assert status == 201
        dependent = {
            "metadata": {
                "name": "dependent",
                "ownerReferences": [
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "name": "owner",
                        "uid": owner["metadata"]["uid"],
                    }
                ],
            }
        }
        assert plane.request("POST", cms, dependent)[0] == 201
        deployment = {
            "metadata": {"name": "web"},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "nginx"}]},
                },
            },
        }
        deployments = "/apis/apps/v1/namespaces/doomed/deployments"
        assert plane.request("POST", deployments, deployment)[0] == 201
        assert _wait_for(
            lambda: plane.request("GET", "/apis/apps/v1/namespaces/doomed/replicasets")[1]["items"]
        ), "no ReplicaSet was created for the Deployment"

        assert plane.request("DELETE", f"{cms}/owner")[0] == 200
        assert _wait_for(lambda: plane.request("GET", f"{cms}/dependent")[0] == 404), (
            "garbage collection did not delete the dependent"
        )

        assert plane.request("DELETE", f"{ns}/doomed")[0] == 200
        assert _wait_for(lambda: plane.request("GET", f"{ns}/doomed")[0] == 404), (
            "the namespace stayed Terminating"
        )
