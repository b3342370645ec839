"""Finding the control-plane binaries, without starting anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconcile.errors import ControlPlaneError
from reconcile.testing import AssetsUnavailableError, find_assets


def test_corrupt_binary_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    junk = tmp_path / "kube-apiserver"
    junk.write_bytes(b"\x7fELF-not-really")
    junk.chmod(0o755)
    monkeypatch.setenv("TEST_ASSET_KUBE_APISERVER", str(junk))
    with pytest.raises(ControlPlaneError, match=str(junk)) as caught:
        find_assets(build=False)
    assert not isinstance(caught.value, AssetsUnavailableError)


def test_binary_that_fails_reports_its_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "etcd"
    script.write_text("#!/bin/sh\necho 'etcd: cannot load libfoo' >&2\nexit 3\n")
    script.chmod(0o755)
    ok = tmp_path / "kube-apiserver"
    ok.write_text("#!/bin/sh\necho 'Kubernetes v1.37.2'\n")
    ok.chmod(0o755)
    monkeypatch.setenv("TEST_ASSET_KUBE_APISERVER", str(ok))
    monkeypatch.setenv("TEST_ASSET_ETCD", str(script))
    with pytest.raises(ControlPlaneError, match=r"exited 3:\netcd: cannot load libfoo"):
        find_assets(build=False)


def test_env_pointing_nowhere_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_ASSET_KUBE_APISERVER", str(tmp_path / "missing"))
    with pytest.raises(ControlPlaneError, match="TEST_ASSET_KUBE_APISERVER names"):
        find_assets(build=False)


def test_missing_without_build_is_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("TEST_ASSET_KUBE_APISERVER", "TEST_ASSET_ETCD", "KUBEBUILDER_ASSETS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("RECONCILE_CACHE_DIR", str(tmp_path))
    with pytest.raises(AssetsUnavailableError, match="kube-apiserver not found"):
        find_assets(build=False)


def test_kubebuilder_assets_directory_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("kube-apiserver", "etcd", "kubectl"):
        path = tmp_path / name
        path.write_text("#!/bin/sh\necho fake\n")
        path.chmod(0o755)
    for var in ("TEST_ASSET_KUBE_APISERVER", "TEST_ASSET_ETCD", "TEST_ASSET_KUBECTL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KUBEBUILDER_ASSETS", str(tmp_path))
    assets = find_assets(build=False)
    assert assets.kube_apiserver == tmp_path / "kube-apiserver"
    assert assets.etcd == tmp_path / "etcd"
    assert assets.kubectl == tmp_path / "kubectl"
