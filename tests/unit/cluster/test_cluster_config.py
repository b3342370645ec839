"""Connection settings: the documented precedence, nothing read at import time."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconcile.cluster import ConnectionSettings
from reconcile.errors import ConfigurationError


def test_explicit_beats_environment() -> None:
    env = {"KUBECONFIG": "/env/a:/env/b", "KUBERNETES_SERVICE_HOST": "10.0.0.1"}
    assert ConnectionSettings(kubeconfig="/x").resolve(env) == ("explicit", ["/x"])
    assert ConnectionSettings(kubeconfig=["/x", "/y"]).resolve(env) == ("explicit", ["/x", "/y"])


def test_kubeconfig_env_with_several_files_beats_in_cluster() -> None:
    env = {"KUBECONFIG": f"/a{os.pathsep}/b", "KUBERNETES_SERVICE_HOST": "10.0.0.1"}
    assert ConnectionSettings().resolve(env) == ("KUBECONFIG", ["/a", "/b"])


def test_in_cluster_then_default() -> None:
    assert ConnectionSettings().resolve({"KUBERNETES_SERVICE_HOST": "h"})[0] == "in-cluster"
    source, paths = ConnectionSettings().resolve({})
    assert source == "default"
    assert paths[0].endswith(".kube/config")
    assert ConnectionSettings(in_cluster=True).resolve({"KUBECONFIG": "/a"})[0] == "in-cluster"
    assert ConnectionSettings(in_cluster=False).resolve({"KUBERNETES_SERVICE_HOST": "h"})[0] == (
        "default"
    )


@pytest.mark.anyio
async def test_missing_files_are_a_configuration_error(tmp_path: Path) -> None:
    from reconcile.cluster.kubernetes import load_client

    with pytest.raises(ConfigurationError, match="no kubeconfig file found"):
        await load_client(ConnectionSettings(kubeconfig=str(tmp_path / "nope")))
