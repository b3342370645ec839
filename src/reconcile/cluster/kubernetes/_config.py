"""Where the connection settings come from.

Precedence, first match wins (the order of controller-runtime's ``GetConfig``):

1. an explicit ``kubeconfig`` argument: one path, or several (a sequence, or
   one string joined with ``os.pathsep``), merged as kubectl merges them;
2. the ``KUBECONFIG`` environment variable, read when :func:`load_client` is
   called (never at import time), with several files merged the same way;
3. the in-cluster service account, when ``KUBERNETES_SERVICE_HOST`` is set
   (or ``in_cluster=True`` forces it): the API server at
   ``https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT``, the bearer
   token in ``token`` (re-read every minute: kubelet rotates it), the CA in
   ``ca.crt`` and the default namespace in ``namespace`` of
   ``service_account_dir`` (:data:`SERVICE_ACCOUNT_DIR` by default, where the
   kubelet mounts them);
4. ``~/.kube/config``.

``context`` picks a context of the kubeconfig (its ``current-context`` when
omitted); it is an error with the in-cluster configuration.

>>> sorted(ConnectionSettings(kubeconfig=["a.yaml", "b.yaml"]).describe().items())
[('context', None), ('kubeconfig', 'a.yaml:b.yaml'), ('source', 'explicit')]
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from reconcile.errors import ConfigurationError

__all__ = ["SERVICE_ACCOUNT_DIR", "ConnectionSettings", "load_client"]

#: Where the kubelet mounts a pod's service-account token, CA and namespace.
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def _paths(value: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[str]:
    if isinstance(value, str | os.PathLike):
        return [p for p in os.fspath(value).split(os.pathsep) if p]
    return [os.fspath(p) for p in value]


def _existing(paths: Sequence[str]) -> list[str]:
    return [p for p in paths if os.path.isfile(p)]


@attrs.frozen
class ConnectionSettings:
    """How to reach a cluster; resolved by :meth:`resolve` at connection time.

    Example:

        >>> ConnectionSettings(kubeconfig="/etc/kube/a.yaml").resolve({})
        ('explicit', ['/etc/kube/a.yaml'])
        >>> ConnectionSettings().resolve({"KUBECONFIG": "/a:/b"})
        ('KUBECONFIG', ['/a', '/b'])
    """

    kubeconfig: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None
    context: str | None = None
    in_cluster: bool | None = None
    #: The directory of the in-cluster ``token``, ``ca.crt`` and ``namespace``.
    service_account_dir: str | os.PathLike[str] = SERVICE_ACCOUNT_DIR

    def in_cluster_namespace(self) -> str | None:
        """The namespace of the in-cluster service account (None when unreadable).

        >>> ConnectionSettings(service_account_dir="/nonexistent").in_cluster_namespace()
        """
        try:
            text = (Path(self.service_account_dir) / "namespace").read_text().strip()
        except OSError:
            return None
        return text or None

    def resolve(self, environ: Mapping[str, str] | None = None) -> tuple[str, list[str]]:
        """The source (``explicit``, ``KUBECONFIG``, ``in-cluster``, ``default``) and files."""
        env = os.environ if environ is None else environ
        if self.in_cluster:
            return "in-cluster", []
        if self.kubeconfig is not None:
            paths = _paths(self.kubeconfig)
            if not paths:
                raise ConfigurationError("kubeconfig: no file given")
            return "explicit", paths
        if self.in_cluster is None and env.get("KUBECONFIG"):
            return "KUBECONFIG", _paths(env["KUBECONFIG"])
        if self.in_cluster is None and env.get("KUBERNETES_SERVICE_HOST"):
            return "in-cluster", []
        return "default", [str(Path("~/.kube/config").expanduser())]

    def describe(self, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The resolved settings, for logs and errors (no credentials)."""
        source, paths = self.resolve(environ)
        return {
            "source": source,
            "kubeconfig": os.pathsep.join(paths) or None,
            "context": self.context,
        }


async def load_client(settings: ConnectionSettings) -> Any:
    """A kubernetes-asyncio ``ApiClient`` for the settings (the caller closes it).

    Example:

        >>> api_client = await load_client(ConnectionSettings(context="staging"))  # doctest: +SKIP
        >>> await api_client.close()  # doctest: +SKIP
    """
    from kubernetes_asyncio import client, config
    from kubernetes_asyncio.config.config_exception import ConfigException

    source, paths = settings.resolve()
    configuration = client.Configuration()
    try:
        if source == "in-cluster":
            if settings.context is not None:
                raise ConfigurationError("a context name does not apply to in-cluster config")
            directory = Path(settings.service_account_dir)
            config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration,
                token_filename=str(directory / "token"),
                cert_filename=str(directory / "ca.crt"),
            )
        else:
            existing = _existing(paths)
            if not existing:
                raise ConfigurationError(
                    f"no kubeconfig file found ({source}: {os.pathsep.join(paths)})"
                )
            await config.load_kube_config(
                config_file=os.pathsep.join(existing),
                context=settings.context,
                client_configuration=configuration,
                persist_config=False,
            )
    except (ConfigException, TypeError, KeyError, ValueError, OSError) as exc:
        # The loader reports some malformed files (a context naming an undefined
        # user) with TypeError/KeyError rather than its own exception.
        raise ConfigurationError(
            f"cannot load {source} cluster configuration"
            f"{' (context ' + repr(settings.context) + ')' if settings.context else ''}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    return client.ApiClient(configuration)
