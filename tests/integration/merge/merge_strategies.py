"""Hypothesis strategies: realistic Kubernetes objects and three versions of each.

A case is ``(original, modified, current)`` as ``kubectl apply`` sees them:
``original`` the last applied configuration, ``modified`` the desired object
(original plus the user's edits), ``current`` the live object (original plus
server defaults plus other actors' edits). Edits add, remove, duplicate and
reorder list items, change scalars and nested maps, set nulls and empty
lists/maps.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from hypothesis import strategies as st

JSON = Any

NAMES = ["web", "api", "sidecar", "init", "db", "cache", "worker", "proxy", "metrics", "a", "b"]
IMAGES = ["nginx:1.27", "nginx:1.28", "redis:7", "busybox", "ghcr.io/x/api:v2", "envoy:v1.31"]
LABEL_KEYS = ["app", "tier", "team", "app.kubernetes.io/name", "version", "env"]
LABEL_VALUES = ["web", "backend", "frontend", "v1", "v2", "prod", "dev", ""]
PATHS = ["/", "/healthz", "/ready", "/metrics"]
PROTOCOLS = ["TCP", "UDP", "SCTP"]
VERBS = ["get", "list", "watch", "create", "update", "patch", "delete"]
RESOURCES = ["pods", "services", "configmaps", "secrets", "deployments", "leases"]
GROUPS = ["", "apps", "batch", "coordination.k8s.io", "rbac.authorization.k8s.io"]
FINALIZERS = ["example.com/cleanup", "kubernetes.io/pvc-protection", "foregroundDeletion", "a/b"]

names = st.sampled_from(NAMES)


def _once(key: str, make: Any) -> Any:
    """Build a strategy once per call site (building them is what costs)."""
    got = _STRATEGIES.get(key)
    if got is None:
        got = _STRATEGIES[key] = make()
    return got


_STRATEGIES: dict[str, Any] = {}
small_int = st.integers(min_value=0, max_value=5)
port_no = st.sampled_from([80, 443, 8080, 8443, 9090, 53, 6379])
quantity = st.sampled_from(["100m", "0.5", "1", "250m", "1Gi", "512Mi", "128Mi", 1, 2])
int_or_string = st.one_of(st.sampled_from(["25%", "http", "metrics", "1"]), st.integers(0, 3))


@functools.cache
def labels(max_size: int = 4) -> st.SearchStrategy[dict[str, str]]:
    return st.dictionaries(
        st.sampled_from(LABEL_KEYS), st.sampled_from(LABEL_VALUES), max_size=max_size
    )


@functools.cache
@st.composite
def metadata(draw: st.DrawFn, namespaced: bool = True) -> dict[str, JSON]:
    md: dict[str, JSON] = {
        "name": draw(_once("s1", lambda: st.sampled_from(["app", "frontend", "x-1"])))
    }
    if namespaced:
        md["namespace"] = draw(_once("s2", lambda: st.sampled_from(["default", "prod"])))
    if draw(_once("s3", lambda: st.booleans())):
        md["labels"] = draw(labels())
    if draw(_once("s4", lambda: st.booleans())):
        md["annotations"] = draw(
            st.dictionaries(
                st.sampled_from(["note", "example.com/owner", "checksum/config"]),
                st.sampled_from(["x", "y", "abc123"]),
                max_size=3,
            )
        )
    if draw(_once("s5", lambda: st.integers(0, 5))) == 0:
        md["finalizers"] = draw(
            _once("s6", lambda: st.lists(st.sampled_from(FINALIZERS), max_size=3))
        )
    return md


@functools.cache
@st.composite
def probe(draw: st.DrawFn) -> dict[str, JSON]:
    kind = draw(_once("s7", lambda: st.sampled_from(["http", "tcp", "exec"])))
    p: dict[str, JSON]
    if kind == "http":
        p = {
            "httpGet": {
                "path": draw(_once("s8", lambda: st.sampled_from(PATHS))),
                "port": draw(int_or_string),
            }
        }
    elif kind == "tcp":
        p = {"tcpSocket": {"port": draw(int_or_string)}}
    else:
        p = {
            "exec": {
                "command": draw(
                    _once(
                        "s9", lambda: st.lists(st.sampled_from(["cat", "/tmp/x", "-c"]), max_size=3)
                    )
                )
            }
        }
    if draw(_once("s10", lambda: st.booleans())):
        p["initialDelaySeconds"] = draw(small_int)
    if draw(_once("s11", lambda: st.booleans())):
        p["periodSeconds"] = draw(_once("s12", lambda: st.sampled_from([5, 10, 30])))
    return p


@functools.cache
@st.composite
def container(draw: st.DrawFn, name: str) -> dict[str, JSON]:
    c: dict[str, JSON] = {
        "name": name,
        "image": draw(_once("s13", lambda: st.sampled_from(IMAGES))),
    }
    if draw(_once("s14", lambda: st.booleans())):
        c["args"] = draw(
            st.lists(st.sampled_from(["--v=2", "--port=8080", "serve", "-x"]), max_size=3)
        )
    if draw(_once("s15", lambda: st.integers(0, 3))) == 0:
        c["command"] = draw(
            _once("s16", lambda: st.lists(st.sampled_from(["/bin/sh", "-c", "run"]), max_size=3))
        )
    if draw(_once("s17", lambda: st.booleans())):
        c["ports"] = draw(
            st.lists(
                st.builds(
                    lambda port, name, proto: {
                        "containerPort": port,
                        **({"name": name} if name else {}),
                        **({"protocol": proto} if proto else {}),
                    },
                    port_no,
                    st.sampled_from(["", "http", "https", "metrics"]),
                    st.sampled_from(["", *PROTOCOLS]),
                ),
                max_size=3,
            )
        )
    if draw(_once("s18", lambda: st.booleans())):
        c["env"] = draw(
            st.lists(
                st.one_of(
                    st.builds(
                        lambda n, v: {"name": n, "value": v},
                        st.sampled_from(["LOG_LEVEL", "PORT", "MODE", "A", "B"]),
                        st.sampled_from(["info", "debug", "8080", ""]),
                    ),
                    st.builds(
                        lambda n, cm, k: {
                            "name": n,
                            "valueFrom": {"configMapKeyRef": {"name": cm, "key": k}},
                        },
                        st.sampled_from(["CONFIG", "A", "TOKEN"]),
                        st.sampled_from(["cfg", "other"]),
                        st.sampled_from(["k", "v"]),
                    ),
                ),
                max_size=4,
            )
        )
    if draw(_once("s19", lambda: st.booleans())):
        c["resources"] = {
            section: draw(
                _once(
                    "s20",
                    lambda: st.dictionaries(
                        st.sampled_from(["cpu", "memory"]), quantity, min_size=1
                    ),
                )
            )
            for section in draw(
                st.lists(st.sampled_from(["limits", "requests"]), unique=True, max_size=2)
            )
        }
    if draw(_once("s21", lambda: st.booleans())):
        c["volumeMounts"] = draw(
            st.lists(
                st.builds(
                    lambda n, p, ro: {
                        "name": n,
                        "mountPath": p,
                        **({"readOnly": ro} if ro else {}),
                    },
                    st.sampled_from(["config", "data", "tmp", "certs"]),
                    st.sampled_from(["/etc/config", "/data", "/tmp", "/certs"]),
                    st.booleans(),
                ),
                max_size=3,
            )
        )
    if draw(_once("s22", lambda: st.booleans())):
        c["livenessProbe"] = draw(probe())
    if draw(_once("s23", lambda: st.booleans())):
        c["readinessProbe"] = draw(probe())
    if draw(_once("s24", lambda: st.integers(0, 4))) == 0:
        c["securityContext"] = {
            "runAsNonRoot": draw(_once("s25", lambda: st.booleans())),
            "readOnlyRootFilesystem": True,
        }
    return c


@functools.cache
@st.composite
def volume(draw: st.DrawFn) -> dict[str, JSON]:
    name = draw(_once("s26", lambda: st.sampled_from(["config", "data", "tmp", "certs"])))
    kind = draw(_once("s27", lambda: st.sampled_from(["configMap", "secret", "emptyDir", "pvc"])))
    if kind == "configMap":
        src: dict[str, JSON] = {
            "configMap": {"name": draw(_once("s28", lambda: st.sampled_from(["cfg", "other"])))}
        }
    elif kind == "secret":
        src = {
            "secret": {"secretName": draw(_once("s29", lambda: st.sampled_from(["tls", "creds"])))}
        }
    elif kind == "emptyDir":
        src = {
            "emptyDir": draw(
                _once(
                    "s30", lambda: st.sampled_from([{}, {"medium": "Memory"}, {"sizeLimit": "1Gi"}])
                )
            )
        }
    else:
        src = {
            "persistentVolumeClaim": {
                "claimName": draw(_once("s31", lambda: st.sampled_from(["data", "logs"])))
            }
        }
    return {"name": name, **src}


@functools.cache
@st.composite
def pod_spec(draw: st.DrawFn) -> dict[str, JSON]:
    cnames = draw(_once("s32", lambda: st.lists(names, min_size=1, max_size=3)))
    spec: dict[str, JSON] = {"containers": [draw(container(n)) for n in cnames]}
    if draw(_once("s33", lambda: st.integers(0, 3))) == 0:
        spec["initContainers"] = [
            draw(container(n)) for n in draw(_once("s34", lambda: st.lists(names, max_size=2)))
        ]
    if draw(_once("s35", lambda: st.booleans())):
        spec["volumes"] = draw(_once("s36", lambda: st.lists(volume(), max_size=3)))
    if draw(_once("s37", lambda: st.integers(0, 3))) == 0:
        spec["nodeSelector"] = draw(labels(2))
    if draw(_once("s38", lambda: st.integers(0, 3))) == 0:
        spec["tolerations"] = draw(
            st.lists(
                st.fixed_dictionaries(
                    {"key": st.sampled_from(["node-role", "gpu"]), "operator": st.just("Exists")},
                    optional={"effect": st.sampled_from(["NoSchedule", "NoExecute"])},
                ),
                max_size=2,
            )
        )
    if draw(_once("s39", lambda: st.booleans())):
        spec["serviceAccountName"] = draw(_once("s40", lambda: st.sampled_from(["default", "app"])))
    if draw(_once("s41", lambda: st.integers(0, 4))) == 0:
        spec["imagePullSecrets"] = [
            {"name": draw(_once("s42", lambda: st.sampled_from(["regcred", "other"])))}
        ]
    return spec


@functools.cache
@st.composite
def deployment(draw: st.DrawFn) -> dict[str, JSON]:
    app = draw(labels(2)) or {"app": "web"}
    spec: dict[str, JSON] = {
        "selector": {"matchLabels": app},
        "template": {"metadata": {"labels": app}, "spec": draw(pod_spec())},
    }
    if draw(_once("s43", lambda: st.booleans())):
        spec["replicas"] = draw(small_int)
    if draw(_once("s44", lambda: st.booleans())):
        spec["strategy"] = draw(
            st.one_of(
                st.just({"type": "Recreate"}),
                st.builds(
                    lambda s, u: {
                        "type": "RollingUpdate",
                        "rollingUpdate": {"maxSurge": s, "maxUnavailable": u},
                    },
                    int_or_string,
                    int_or_string,
                ),
            )
        )
    kind = draw(_once("s45", lambda: st.sampled_from(["Deployment", "StatefulSet", "DaemonSet"])))
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": draw(metadata()), "spec": spec}


@functools.cache
@st.composite
def service(draw: st.DrawFn) -> dict[str, JSON]:
    ports = draw(
        st.lists(
            st.fixed_dictionaries(
                {"port": port_no},
                optional={
                    "name": st.sampled_from(["http", "https", "grpc"]),
                    "targetPort": int_or_string,
                    "protocol": st.sampled_from(PROTOCOLS),
                },
            ),
            max_size=3,
        )
    )
    spec: dict[str, JSON] = {"ports": ports, "selector": draw(labels(2))}
    if draw(_once("s46", lambda: st.booleans())):
        spec["type"] = draw(
            _once("s47", lambda: st.sampled_from(["ClusterIP", "NodePort", "LoadBalancer"]))
        )
    return {"apiVersion": "v1", "kind": "Service", "metadata": draw(metadata()), "spec": spec}


@functools.cache
@st.composite
def config(draw: st.DrawFn) -> dict[str, JSON]:
    kind = draw(_once("s48", lambda: st.sampled_from(["ConfigMap", "Secret"])))
    data = draw(
        st.dictionaries(
            st.sampled_from(["a", "b", "config.yaml", "token", "ca.crt"]),
            st.sampled_from(["", "x", "a: 1\n", "c2VjcmV0"]),
            max_size=4,
        )
    )
    obj: dict[str, JSON] = {
        "apiVersion": "v1",
        "kind": kind,
        "metadata": draw(metadata()),
        "data": data,
    }
    if kind == "Secret" and draw(_once("s49", lambda: st.booleans())):
        obj["type"] = draw(_once("s50", lambda: st.sampled_from(["Opaque", "kubernetes.io/tls"])))
    if draw(_once("s51", lambda: st.integers(0, 4))) == 0:
        obj["immutable"] = draw(_once("s52", lambda: st.booleans()))
    return obj


@functools.cache
@st.composite
def rbac(draw: st.DrawFn) -> dict[str, JSON]:
    kind = draw(
        _once(
            "s53",
            lambda: st.sampled_from(["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"]),
        )
    )
    obj: dict[str, JSON] = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": draw(metadata(namespaced=not kind.startswith("Cluster"))),
    }
    if kind.endswith("Role"):
        obj["rules"] = draw(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "apiGroups": st.lists(st.sampled_from(GROUPS), max_size=2),
                        "resources": st.lists(st.sampled_from(RESOURCES), min_size=1, max_size=3),
                        "verbs": st.lists(st.sampled_from(VERBS), min_size=1, max_size=4),
                    }
                ),
                max_size=3,
            )
        )
    else:
        obj["roleRef"] = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"}
        obj["subjects"] = draw(
            st.lists(
                st.fixed_dictionaries(
                    {"kind": st.sampled_from(["ServiceAccount", "User"]), "name": names},
                    optional={"namespace": st.sampled_from(["default", "prod"])},
                ),
                max_size=3,
            )
        )
    return obj


json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(["", "x", "y", "1"]), st.just(1.5)
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(["a", "b", "c", "name", "spec", "items"]), inner, max_size=3
        ),
    ),
    max_leaves=8,
)


@functools.cache
@st.composite
def custom_resource(draw: st.DrawFn) -> dict[str, JSON]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": draw(metadata()),
        "spec": draw(
            st.dictionaries(
                st.sampled_from(["size", "items", "config", "x"]), json_value, max_size=4
            )
        ),
    }


objects = st.one_of(deployment(), service(), config(), rbac(), custom_resource())


# --- edits --------------------------------------------------------------------


def _paths(value: JSON, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            if k in ("apiVersion", "kind"):
                continue
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_paths(v, (*prefix, i)))
    return out


def _get(value: JSON, path: tuple[Any, ...]) -> JSON:
    for p in path:
        value = value[p]
    return value


SCALAR_EDITS = st.one_of(
    st.sampled_from(["edited", "", "web", "nginx:1.29", "25%", "TCP"]),
    st.integers(0, 9000),
    st.booleans(),
    st.none(),
)


@st.composite
def edit(draw: st.DrawFn, obj: JSON) -> None:
    """Apply one realistic edit to ``obj`` in place."""
    paths = _paths(obj)
    path = draw(st.sampled_from(paths))
    target = _get(obj, path)
    if isinstance(target, dict):
        op = draw(st.sampled_from(["add", "add", "delete", "null", "empty"]))
        if op == "add":
            key = draw(st.sampled_from([*list(target)[:3], *LABEL_KEYS[:3], "extra", "name"]))
            sample = draw(st.sampled_from([*target.values(), "v"])) if target else "v"
            target[key] = copy.deepcopy(sample) if draw(st.booleans()) else draw(SCALAR_EDITS)
        elif op == "delete" and target:
            del target[draw(st.sampled_from(sorted(target)))]
        elif op == "null" and target:
            target[draw(st.sampled_from(sorted(target)))] = None
        elif op == "empty" and target:
            key = draw(st.sampled_from(sorted(target)))
            target[key] = copy.deepcopy(draw(st.sampled_from([{}, []])))
    elif isinstance(target, list):
        op = draw(st.sampled_from(["remove", "duplicate", "reverse", "rotate", "add", "clear"]))
        if op == "remove" and target:
            del target[draw(st.integers(0, len(target) - 1))]
        elif op == "duplicate" and target:
            target.append(copy.deepcopy(target[draw(st.integers(0, len(target) - 1))]))
        elif op == "reverse":
            target.reverse()
        elif op == "rotate" and target:
            target.append(target.pop(0))
        elif op == "add" and target:
            new = copy.deepcopy(target[draw(st.integers(0, len(target) - 1))])
            if isinstance(new, dict):
                for key in ("name", "containerPort", "port", "key"):
                    if key in new:
                        new[key] = draw(st.sampled_from([*NAMES[:4], 81, 9999]))
                        break
            else:
                new = draw(st.sampled_from([*FINALIZERS, *VERBS[:3], "new"]))
            target.insert(draw(st.integers(0, len(target))), new)
        elif op == "clear":
            target.clear()
    elif path:
        parent = _get(obj, path[:-1])
        parent[path[-1]] = draw(SCALAR_EDITS)


def server_defaults(obj: JSON) -> JSON:
    """Fields the API server adds (a simplified, realistic subset)."""
    live = copy.deepcopy(obj)
    md = live.setdefault("metadata", {})
    if isinstance(md, dict):
        md.setdefault("uid", "d9607e19-f88f-11e6-a518-42010a800195")
        md.setdefault("resourceVersion", "12345")
        md.setdefault("generation", 1)
        md.setdefault("creationTimestamp", "2026-11-27T05:00:00Z")
    kind = live.get("kind")
    spec = live.get("spec")
    if kind in ("Deployment", "StatefulSet", "DaemonSet") and isinstance(spec, dict):
        if kind == "Deployment":
            spec.setdefault("replicas", 1)
            spec.setdefault("progressDeadlineSeconds", 600)
        spec.setdefault("revisionHistoryLimit", 10)
        tmpl = spec.get("template")
        pod = tmpl.get("spec") if isinstance(tmpl, dict) else None
        if isinstance(pod, dict):
            pod.setdefault("restartPolicy", "Always")
            pod.setdefault("dnsPolicy", "ClusterFirst")
            pod.setdefault("schedulerName", "default-scheduler")
            pod.setdefault("terminationGracePeriodSeconds", 30)
            pod.setdefault("securityContext", {})
            for c in pod.get("containers") or []:
                if isinstance(c, dict):
                    c.setdefault("imagePullPolicy", "IfNotPresent")
                    c.setdefault("terminationMessagePath", "/dev/termination-log")
                    c.setdefault("terminationMessagePolicy", "File")
                    c.setdefault("resources", {})
                    for p in c.get("ports") or []:
                        if isinstance(p, dict):
                            p.setdefault("protocol", "TCP")
    if kind == "Service" and isinstance(spec, dict):
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("clusterIP", "10.96.0.10")
        spec.setdefault("sessionAffinity", "None")
        for p in spec.get("ports") or []:
            if isinstance(p, dict):
                p.setdefault("protocol", "TCP")
                if "port" in p:
                    p.setdefault("targetPort", p["port"])
    live.setdefault("status", {})
    return live


@st.composite
def three_versions(draw: st.DrawFn) -> tuple[JSON, JSON, JSON]:
    """(original, modified, current) of one object."""
    original = copy.deepcopy(draw(objects))  # strategies may hand out shared objects
    modified = copy.deepcopy(original)
    for _ in range(draw(st.integers(0, 3))):
        draw(edit(modified))
    current = server_defaults(original) if draw(st.integers(0, 4)) else copy.deepcopy(original)
    for _ in range(draw(st.integers(0, 2))):
        draw(edit(current))
    if draw(st.integers(0, 9)) == 0:
        original = {}
    return original, modified, current
