"""The in-cluster configuration for real: a ServiceAccount token minted by the TokenRequest API.

The token, the CA and the namespace are written where a pod would find them
(a temporary ``service_account_dir``), ``KUBERNETES_SERVICE_HOST``/``PORT``
point at the loopback API server, and the applier must act as that service
account: allowed what its Role allows, denied the rest. Then the documented
precedence (explicit kubeconfig > ``KUBECONFIG`` > in-cluster > ``~/.kube/config``)
is checked by asking the server who each applier is.
"""

from __future__ import annotations

import base64
import datetime
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from reconcile.cluster import Action, KubernetesApplier
from reconcile.errors import ApplyError, ConfigurationError, ForbiddenError, RetryableError

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

SA = "deployer"


def admin(control_plane: Any, method: str, path: str, body: Any = None) -> Any:
    status, out = control_plane.request(method, path, body)
    assert 200 <= status < 300, (status, out)
    return out


def mint_token(control_plane: Any, namespace: str, name: str) -> str:
    """A bound token for a service account, from the TokenRequest API."""
    review = admin(
        control_plane,
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": 3600},
        },
    )
    token = str(review["status"]["token"])
    assert token.count(".") == 2  # a signed JWT
    return token


@pytest.fixture
def service_account_dir(control_plane: Any, kube_namespace: str, tmp_path: Path) -> Path:
    """A pod's service-account mount for ``deployer``, which may only manage ConfigMaps."""
    ns = kube_namespace
    admin(control_plane, "POST", f"/api/v1/namespaces/{ns}/serviceaccounts", {
        "metadata": {"name": SA}
    })  # fmt: skip
    rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}"
    admin(control_plane, "POST", f"{rbac}/roles", {
        "metadata": {"name": SA},
        "rules": [{
            "apiGroups": [""],
            "resources": ["configmaps"],
            "verbs": ["get", "list", "watch", "create", "patch", "update", "delete"],
        }],
    })  # fmt: skip
    admin(control_plane, "POST", f"{rbac}/rolebindings", {
        "metadata": {"name": SA},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": SA},
        "subjects": [{"kind": "ServiceAccount", "name": SA, "namespace": ns}],
    })  # fmt: skip
    token = mint_token(control_plane, ns, SA)
    kubeconfig = yaml.safe_load(Path(control_plane.kubeconfig).read_text())
    cluster = kubeconfig["clusters"][0]["cluster"]
    directory = tmp_path / "serviceaccount"
    directory.mkdir()
    (directory / "token").write_text(token)
    (directory / "ca.crt").write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
    (directory / "namespace").write_text(ns)
    return directory


@pytest.fixture
def pod_env(control_plane: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A pod's environment: the service host and port set, no KUBECONFIG, a HOME of its own."""
    kubeconfig = yaml.safe_load(Path(control_plane.kubeconfig).read_text())
    server = urlsplit(kubeconfig["clusters"][0]["cluster"]["server"])
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", str(server.hostname))
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(server.port or 443))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


async def whoami(applier: KubernetesApplier) -> str:
    """The user name the API server authenticated the applier as."""
    resp = await applier.transport.request(
        "POST",
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
        resource="selfsubjectreviews.authentication.k8s.io",
    )
    return str(resp.body["status"]["userInfo"]["username"])


def configmap(name: str) -> dict[str, Any]:
    # No namespace: the in-cluster default namespace (the mounted file) applies.
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "1"}}


async def test_in_cluster_applier_acts_as_the_service_account(
    control_plane: Any, kube_namespace: str, service_account_dir: Path, pod_env: Path
) -> None:
    applier = KubernetesApplier(field_manager="in-pod", service_account_dir=service_account_dir)
    assert applier.settings.resolve()[0] == "in-cluster"
    async with applier:
        assert await whoami(applier) == f"system:serviceaccount:{kube_namespace}:{SA}"
        assert applier.namespace == kube_namespace  # from the mounted namespace file

        allowed = await applier.apply(configmap("allowed"))
        assert allowed.action is Action.CREATED
        assert allowed.ref.namespace == kube_namespace
        assert allowed.object is not None
        managers = [e["manager"] for e in allowed.object["metadata"]["managedFields"]]
        assert managers == ["in-pod"]

        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "denied"},
            "stringData": {"k": "v"},
        }
        with pytest.raises(ForbiddenError) as denied:
            await applier.apply(secret)
        assert denied.value.status == 403
        # The applier reads before it writes: the read is what RBAC refuses first.
        assert "cannot get resource 'secrets'" in denied.value.message
        assert f"system:serviceaccount:{kube_namespace}:{SA}" in denied.value.message
        # A Role grants nothing outside its namespace.
        [result] = await applier.apply_all(
            [{**configmap("elsewhere"), "metadata": {"name": "x", "namespace": "default"}}]
        )
        assert result.action is Action.FAILED
        assert isinstance(result.error, ForbiddenError)
    _, live = control_plane.request(
        "GET", f"/api/v1/namespaces/{kube_namespace}/configmaps/allowed"
    )
    assert live["data"] == {"a": "1"}


async def test_a_rotated_token_is_read_again(
    control_plane: Any,
    kube_namespace: str,
    service_account_dir: Path,
    pod_env: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The kubelet rotates the token file; a long-running applier must pick the new one up."""
    from kubernetes_asyncio.config import incluster_config

    # The loader re-reads the file once a minute; make that every request.
    monkeypatch.setattr(incluster_config, "TOKEN_REFRESH_PERIOD", datetime.timedelta(0))
    admin(control_plane, "POST", f"/api/v1/namespaces/{kube_namespace}/serviceaccounts", {
        "metadata": {"name": "rotated"}
    })  # fmt: skip
    async with KubernetesApplier(
        field_manager="in-pod", service_account_dir=service_account_dir
    ) as applier:
        assert await whoami(applier) == f"system:serviceaccount:{kube_namespace}:{SA}"
        (service_account_dir / "token").write_text(
            mint_token(control_plane, kube_namespace, "rotated")
        )
        assert await whoami(applier) == f"system:serviceaccount:{kube_namespace}:rotated"


async def test_a_token_the_server_does_not_know_is_refused(
    control_plane: Any, service_account_dir: Path, pod_env: Path
) -> None:
    (service_account_dir / "token").write_text("not-a-token")
    async with KubernetesApplier(
        field_manager="in-pod", service_account_dir=service_account_dir
    ) as applier:
        with pytest.raises(ApplyError) as refused:
            await whoami(applier)
    assert refused.value.status == 401
    assert not isinstance(refused.value, RetryableError)


async def test_in_cluster_needs_its_files(tmp_path: Path, pod_env: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigurationError, match="in-cluster"):
        async with KubernetesApplier(field_manager="in-pod", service_account_dir=empty):
            pass


async def test_documented_precedence(
    control_plane: Any,
    kube_namespace: str,
    service_account_dir: Path,
    pod_env: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """explicit kubeconfig > KUBECONFIG > in-cluster > ~/.kube/config, as docs/cluster.md says."""
    sa_user = f"system:serviceaccount:{kube_namespace}:{SA}"

    async def user(**kwargs: Any) -> tuple[str, str]:
        applier = KubernetesApplier(
            field_manager="precedence", service_account_dir=service_account_dir, **kwargs
        )
        async with applier:
            return applier.settings.resolve()[0], await whoami(applier)

    # The admin kubeconfig as ~/.kube/config: in-cluster still wins over it.
    (pod_env / ".kube").mkdir()
    shutil.copy(control_plane.kubeconfig, pod_env / ".kube" / "config")
    assert await user() == ("in-cluster", sa_user)
    # KUBECONFIG beats in-cluster; an explicit kubeconfig beats both.
    monkeypatch.setenv("KUBECONFIG", str(control_plane.kubeconfig))
    source, name = await user()
    assert source == "KUBECONFIG"
    assert name != sa_user
    admin_user = name
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing.yaml"))
    assert await user(kubeconfig=control_plane.kubeconfig) == ("explicit", admin_user)
    # in_cluster=True forces the service account over everything else.
    assert await user(kubeconfig=control_plane.kubeconfig, in_cluster=True) == (
        "in-cluster",
        sa_user,
    )
    # Without the service host, ~/.kube/config is the last resort.
    monkeypatch.delenv("KUBECONFIG")
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST")
    assert await user() == ("default", admin_user)
    # in_cluster=False ignores the service account even when the host is set.
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    assert await user(in_cluster=False) == ("default", admin_user)
