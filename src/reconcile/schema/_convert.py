"""Turn OpenAPI schemas into the compact table format of :mod:`reconcile.schema`.

The same conversion serves the generator (built-in types, from the
``kubernetes-validate`` definitions) and the runtime loader of a cluster's
``/openapi/v3`` documents, so the two sources agree by construction.

Table format (JSON-compatible)::

    {"types": {NAME: TYPEDEF}, "kinds": {"<apiVersion> <kind>": NAME}, "merge": [...]}

    TYPEDEF  = {"k": "struct", "f": {FIELD: FIELDSPEC}, ["mt": MAPTYPE]}
             | {"k": "scalar", ["x": "quantity" | "int-or-string"]}
             | {"k": "any"}
    FIELDSPEC = {"t": EXPR, ["ps": "merge,retainKeys"], ["mk": "name"], ["mt": MAPTYPE]}
    EXPR     = NAME | "~s" (scalar) | "~a" (anything)
             | {"l": EXPR, ["lt": "atomic"|"set"|"map"], ["lk": [KEY, ...]]}
             | {"m": EXPR, ["mt": "atomic"|"granular"]}

``kinds`` lists every kind with its type; ``merge`` lists the kinds that
``kubectl apply`` patches with a JSON merge patch although they are built in
(they are not in client-go's scheme: CRDs, APIServices).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["JSONMERGE_PREFIXES", "convert_definitions", "convert_schema", "short_name"]

# Definitions under these prefixes are served by the API server but are not in
# client-go's scheme, so kubectl falls back to a JSON merge patch for them.
JSONMERGE_PREFIXES = ("io.k8s.apiextensions-apiserver.", "io.k8s.kube-aggregator.")

_PREFIXES = (
    ("io.k8s.api.", ""),
    ("io.k8s.apimachinery.pkg.apis.", ""),
    ("io.k8s.apimachinery.pkg.", ""),
    ("io.k8s.apiextensions-apiserver.pkg.apis.", ""),
    ("io.k8s.kube-aggregator.pkg.apis.", ""),
)

_SPECIAL = {
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {"k": "scalar", "x": "quantity"},
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"k": "scalar", "x": "int-or-string"},
}


def short_name(name: str) -> str:
    """Shorten an OpenAPI definition name for the table.

    >>> short_name("io.k8s.api.apps.v1.Deployment")
    'apps.v1.Deployment'
    """
    for prefix, repl in _PREFIXES:
        if name.startswith(prefix):
            return repl + name[len(prefix) :]
    return name


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _types(schema: Mapping[str, Any]) -> set[str]:
    t = schema.get("type")
    if t is None:
        return set()
    if isinstance(t, str):
        return {t}
    return {x for x in t if x != "null"}


def _unwrap(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    """OpenAPI v3 wraps a ``$ref`` with siblings in ``allOf: [{$ref}]``."""
    all_of = schema.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], Mapping):
        merged = dict(schema)
        del merged["allOf"]
        merged.update(all_of[0])
        return merged
    return schema


def _expr(schema: Mapping[str, Any]) -> Any:
    schema = _unwrap(schema)
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return short_name(_ref_name(ref))
    if schema.get("x-kubernetes-preserve-unknown-fields") or schema.get(
        "x-kubernetes-embedded-resource"
    ):
        return "~a"
    if schema.get("x-kubernetes-int-or-string"):
        return "~i"
    items = schema.get("items")
    if isinstance(items, Mapping):
        out: dict[str, Any] = {"l": _expr(items)}
        lt = schema.get("x-kubernetes-list-type")
        if lt:
            out["lt"] = lt
        lk = schema.get("x-kubernetes-list-map-keys")
        if lk:
            out["lk"] = list(lk)
        return out
    addl = schema.get("additionalProperties")
    if isinstance(addl, Mapping):
        out = {"m": _expr(addl)}
        mt = schema.get("x-kubernetes-map-type")
        if mt:
            out["mt"] = mt
        return out
    if "properties" in schema:
        # An inline struct (CRD schemas); not produced by the built-in definitions.
        inline: dict[str, Any] = {"k": "struct", "f": _fields(schema)}
        mt = schema.get("x-kubernetes-map-type")
        if mt:
            inline["mt"] = mt
        return inline
    types = _types(schema)
    if types and types <= {"string", "integer", "number", "boolean"}:
        return "~s"
    if "object" in types or "array" in types:
        return "~a"
    return "~a"


def _fields(schema: Mapping[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for fname, fschema in sorted(schema.get("properties", {}).items()):
        fschema = _unwrap(fschema)
        spec: dict[str, Any] = {"t": _expr(fschema)}
        ps = fschema.get("x-kubernetes-patch-strategy")
        if ps:
            spec["ps"] = ps
        mk = fschema.get("x-kubernetes-patch-merge-key")
        if mk:
            spec["mk"] = mk
        mt = fschema.get("x-kubernetes-map-type")
        if mt and "$ref" in fschema:
            spec["mt"] = mt
        fields[fname] = spec
    return fields


def _typedef(name: str, schema: Mapping[str, Any]) -> dict[str, Any]:
    if name in _SPECIAL:
        return dict(_SPECIAL[name])
    if schema.get("x-kubernetes-int-or-string") or schema.get("format") == "int-or-string":
        return {"k": "scalar", "x": "int-or-string"}
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return {"k": "any"}
    types = _types(schema)
    if "properties" in schema or types == {"object"}:
        out: dict[str, Any] = {"k": "struct", "f": _fields(schema)}
        mt = schema.get("x-kubernetes-map-type")
        if mt:
            out["mt"] = mt
        return out
    if types and types <= {"string", "integer", "number", "boolean"}:
        return {"k": "scalar"}
    return {"k": "any"}


def convert_definitions(definitions: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Convert OpenAPI definitions (``$defs`` or ``components.schemas``) to a table.

    >>> table = convert_definitions({
    ...     "io.k8s.api.core.v1.Pod": {
    ...         "type": "object",
    ...         "x-kubernetes-group-version-kind": [{"group": "", "version": "v1", "kind": "Pod"}],
    ...         "properties": {"spec": {"$ref": "#/$defs/io.k8s.api.core.v1.PodSpec"}}},
    ...     "io.k8s.api.core.v1.PodSpec": {"type": "object", "properties": {
    ...         "containers": {"type": "array", "items": {"type": "string"},
    ...                        "x-kubernetes-patch-strategy": "merge"}}}})
    >>> table["kinds"]
    {'v1 Pod': 'core.v1.Pod'}
    >>> table["types"]["core.v1.PodSpec"]["f"]["containers"]
    {'t': {'l': '~s'}, 'ps': 'merge'}
    """
    types: dict[str, Any] = {}
    kinds: dict[str, str] = {}
    merge: list[str] = []
    for name in sorted(definitions):
        schema = definitions[name]
        short = short_name(name)
        types[short] = _typedef(name, schema)
        for gvk in schema.get("x-kubernetes-group-version-kind", ()) or ():
            group, version, kind = gvk.get("group", ""), gvk["version"], gvk["kind"]
            api_version = f"{group}/{version}" if group else version
            key = f"{api_version} {kind}"
            # Meta kinds (Status, WatchEvent, ...) are listed for every group; the
            # first real definition wins, later duplicates are ignored.
            kinds.setdefault(key, short)
            if name.startswith(JSONMERGE_PREFIXES) and key not in merge:
                merge.append(key)
    return {"types": types, "kinds": kinds, "merge": sorted(merge)}


def convert_schema(schema: Mapping[str, Any]) -> Any:
    """Convert one self-contained schema (a CRD's ``openAPIV3Schema``) to an EXPR.

    >>> convert_schema({"type": "object", "properties": {"ports": {
    ...     "type": "array", "x-kubernetes-list-type": "map",
    ...     "x-kubernetes-list-map-keys": ["port"], "items": {"type": "object"}}}})
    {'k': 'struct', 'f': {'ports': {'t': {'l': '~a', 'lt': 'map', 'lk': ['port']}}}}
    """
    return _expr(schema)
