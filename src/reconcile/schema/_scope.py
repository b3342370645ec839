"""Which built-in kinds are namespaced: the scope table of Kubernetes 1.37.

Scope is not in the OpenAPI definitions the schema table is generated from
(it is a property of the REST path, ``/namespaces/{namespace}/...``), so it
is kept here: every kind of a built-in API group is namespaced except those
listed. An integration test compares the table with the discovery documents
of a real kube-apiserver 1.37 (``tests/integration/render``).

Example:

    >>> from reconcile.schema import namespaced
    >>> namespaced("apps", "Deployment"), namespaced("", "Namespace")
    (True, False)
    >>> namespaced("cert-manager.io", "Certificate") is None  # not built in: unknown
    True
"""

from __future__ import annotations

from typing import Final

__all__ = ["BUILTIN_GROUPS", "CLUSTER_SCOPED", "namespaced"]

#: Built-in kinds that are cluster-scoped, by (API group, kind).
CLUSTER_SCOPED: Final[frozenset[tuple[str, str]]] = frozenset(
    {
        ("", "ComponentStatus"),
        ("", "Namespace"),
        ("", "Node"),
        ("", "PersistentVolume"),
        ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
        ("admissionregistration.k8s.io", "MutatingAdmissionPolicyBinding"),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("apiregistration.k8s.io", "APIService"),
        ("authentication.k8s.io", "SelfSubjectReview"),
        ("authentication.k8s.io", "TokenReview"),
        ("authorization.k8s.io", "SelfSubjectAccessReview"),
        ("authorization.k8s.io", "SelfSubjectRulesReview"),
        ("authorization.k8s.io", "SubjectAccessReview"),
        ("certificates.k8s.io", "CertificateSigningRequest"),
        ("certificates.k8s.io", "ClusterTrustBundle"),
        ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
        ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
        ("internal.apiserver.k8s.io", "StorageVersion"),
        ("networking.k8s.io", "IPAddress"),
        ("networking.k8s.io", "IngressClass"),
        ("networking.k8s.io", "ServiceCIDR"),
        ("node.k8s.io", "RuntimeClass"),
        ("policy", "PodSecurityPolicy"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("resource.k8s.io", "DeviceClass"),
        ("resource.k8s.io", "DeviceTaintRule"),
        ("resource.k8s.io", "ResourceSlice"),
        ("scheduling.k8s.io", "PriorityClass"),
        ("storage.k8s.io", "CSIDriver"),
        ("storage.k8s.io", "CSINode"),
        ("storage.k8s.io", "StorageClass"),
        ("storage.k8s.io", "VolumeAttachment"),
        ("storage.k8s.io", "VolumeAttributesClass"),
        ("storagemigration.k8s.io", "StorageVersionMigration"),
    }
)

#: The API groups Kubernetes 1.37 serves itself ("" is the core group).
BUILTIN_GROUPS: Final[frozenset[str]] = frozenset(
    {
        "",
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "apiregistration.k8s.io",
        "apps",
        "authentication.k8s.io",
        "authorization.k8s.io",
        "autoscaling",
        "batch",
        "certificates.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "events.k8s.io",
        "extensions",
        "flowcontrol.apiserver.k8s.io",
        "internal.apiserver.k8s.io",
        "networking.k8s.io",
        "node.k8s.io",
        "policy",
        "rbac.authorization.k8s.io",
        "resource.k8s.io",
        "scheduling.k8s.io",
        "storage.k8s.io",
        "storagemigration.k8s.io",
    }
)


def namespaced(group: str, kind: str) -> bool | None:
    """Whether a kind is namespaced: True, False, or None for kinds of other groups.

    Scope does not depend on the version, so only the group is asked.

    >>> namespaced("rbac.authorization.k8s.io", "ClusterRole")
    False
    """
    if (group, kind) in CLUSTER_SCOPED:
        return False
    return True if group in BUILTIN_GROUPS else None
