"""ObjectDiff: the verdict on one object, and its presentations."""

from __future__ import annotations

import difflib
import html
import io
from collections.abc import Mapping
from typing import Any, Final, Literal

import attrs

from reconcile.errors import FieldConflict
from reconcile.merge import normalize
from reconcile.objects import ObjectRef

__all__ = ["Action", "FieldChange", "Mode", "ObjectDiff", "field_changes", "mask_secret"]

Action = Literal["create", "update", "prune", "none"]
Mode = Literal["server-side", "client-side"]

_MISSING: Final = object()


@attrs.frozen(slots=True)
class FieldChange:
    """One field that differs between live and what the apply would produce.

    Attributes:
        path: the field in the API server's notation (``.spec.replicas``,
            ``.spec.template.spec.containers[name="web"].image``).
        before: the live value (None when the field is added).
        after: the value after the apply (None when the field is removed).
        manager: the field manager that owns the live value, when one does.

    Example:

        >>> FieldChange(".spec.replicas", 2, 3, "gitops").to_json()
        {'path': '.spec.replicas', 'before': 2, 'after': 3, 'manager': 'gitops'}
    """

    path: str
    before: Any
    after: Any
    manager: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-compatible dict."""
        return {
            "path": self.path,
            "before": self.before,
            "after": self.after,
            "manager": self.manager,
        }


def _owners(live: Mapping[str, Any] | None) -> list[tuple[str, dict[str, Any]]]:
    if not live:
        return []
    return [
        (str(e.get("manager", "")), e.get("fieldsV1") or {})
        for e in (live.get("metadata") or {}).get("managedFields") or ()
    ]


def _list_key(item: Any) -> tuple[str, str] | None:
    if isinstance(item, dict):
        for key in ("name", "containerPort", "port", "mountPath", "ip", "type", "uid", "key"):
            if key in item:
                return key, item[key]
    return None


def _walk_changes(
    before: Any, after: Any, path: str, fs: list[tuple[str, Any]], out: list[FieldChange]
) -> None:
    if before == after:
        return
    if isinstance(before, dict) and isinstance(after, dict):
        for k in {**before, **after}:
            b, a = before.get(k, _MISSING), after.get(k, _MISSING)
            sub = [(m, s.get("f:" + k)) for m, s in fs if isinstance(s, dict) and "f:" + k in s]
            _walk_changes(b, a, f"{path}.{k}", sub, out)
        return
    if isinstance(before, list) and isinstance(after, list):
        bkeys = [_list_key(i) for i in before]
        akeys = [_list_key(i) for i in after]
        if None not in bkeys and None not in akeys and len(set(bkeys)) == len(bkeys):
            bmap = dict(zip(bkeys, before, strict=True))
            amap = dict(zip(akeys, after, strict=True))
            for key in dict.fromkeys([*bkeys, *akeys]):
                assert key is not None
                name, value = key
                pe_json = f'"{value}"' if isinstance(value, str) else str(value)
                sub = []
                for m, s in fs:
                    if isinstance(s, dict):
                        for pe, child in s.items():
                            if pe.startswith("k:") and f'"{name}":{pe_json}' in pe:
                                sub.append((m, child))
                _walk_changes(
                    bmap.get(key, _MISSING),
                    amap.get(key, _MISSING),
                    f"{path}[{name}={pe_json}]",
                    sub,
                    out,
                )
            return
    owner = next((m for m, _ in fs), None)
    out.append(
        FieldChange(
            path or ".",
            None if before is _MISSING else before,
            None if after is _MISSING else after,
            owner if before is not _MISSING else None,
        )
    )


def field_changes(
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    *,
    live: Mapping[str, Any] | None = None,
) -> tuple[FieldChange, ...]:
    """The fields that differ between two normalised objects.

    ``live`` (with managedFields) names the owner of each changed live value.

    >>> field_changes({"spec": {"replicas": 1}}, {"spec": {"replicas": 2}})
    (FieldChange(path='.spec.replicas', before=1, after=2, manager=None),)
    """
    out: list[FieldChange] = []
    _walk_changes(
        before if before is not None else _MISSING,
        after if after is not None else _MISSING,
        "",
        _owners(live),
        out,
    )
    return tuple(out)


def mask_secret(*objs: Mapping[str, Any] | None) -> list[dict[str, Any] | None]:
    """Secrets with ``data``/``stringData`` values masked, consistently across ``objs``.

    Equal values get equal masks and different values different ones, so a
    diff still shows *that* a value changed, never what it is.

    >>> a, b = mask_secret({"kind": "Secret", "data": {"k": "czE=", "j": "czE="}},
    ...                    {"kind": "Secret", "data": {"k": "czI="}})
    >>> a["data"], b["data"]
    ({'k': '++++++++', 'j': '++++++++'}, {'k': '+++++++++'})
    """
    masks: dict[str, str] = {}
    out: list[dict[str, Any] | None] = []
    for obj in objs:
        if obj is None or obj.get("kind") != "Secret":
            out.append(dict(obj) if obj is not None else None)
            continue
        copy = dict(obj)
        for field in ("data", "stringData"):
            values = copy.get(field)
            if isinstance(values, dict):
                masked = {}
                for k, v in values.items():
                    key = str(v)
                    if key not in masks:
                        masks[key] = "+" * (8 + len(masks))
                    masked[k] = masks[key]
                copy[field] = masked
        meta = copy.get("metadata")
        if isinstance(meta, dict) and "annotations" in meta:
            ann = dict(meta["annotations"] or {})
            if "kubectl.kubernetes.io/last-applied-configuration" in ann:
                ann["kubectl.kubernetes.io/last-applied-configuration"] = "++++++++"
                copy["metadata"] = {**meta, "annotations": ann}
        out.append(copy)
    return out


def _sorted(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def _yaml(obj: Mapping[str, Any] | None) -> list[str]:
    if obj is None:
        return []
    from ruamel.yaml import YAML

    y = YAML(typ="safe", pure=True)
    y.default_flow_style = False
    buf = io.StringIO()
    y.dump(_sorted(obj), buf)
    return buf.getvalue().splitlines(keepends=True)


@attrs.frozen(slots=True, repr=False)
class ObjectDiff:
    """The verdict on one object: in sync, or what would change and how to change it.

    Attributes:
        ref: the object.
        action: ``"create"`` (no live object), ``"prune"`` (no desired object),
            ``"update"`` (drifted), ``"none"`` (in sync).
        mode: ``"server-side"`` or ``"client-side"``.
        desired: the desired object (after ignore rules), or None for a prune.
        live: the live object, or None for a create.
        predicted: the object the server would hold after the apply (None for a
            prune, or when the apply would be refused).
        body: what to send: the apply configuration (server-side), or the patch
            (client-side); None when in sync or for a prune.
        content_type: the ``Content-Type`` for ``body``.
        changes: the fields that would change, normalised.
        conflicts: fields other managers own that the apply would change; a
            server-side apply without force would be refused with 409.
        ownership_changed: the apply would change who owns which field, though
            no value changes.

    Example:

        >>> from reconcile.diff import DefaultDiffer
        >>> desired = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
        ...            "data": {"a": "1"}}
        >>> d = DefaultDiffer().diff(desired, None)
        >>> d.action, d.in_sync, str(d.ref), d.content_type
        ('create', False, 'ConfigMap c', 'application/apply-patch+yaml')
        >>> d.to_json()["action"]
        'create'
    """

    ref: ObjectRef
    action: Action
    mode: Mode
    desired: dict[str, Any] | None
    live: dict[str, Any] | None
    predicted: dict[str, Any] | None = None
    body: dict[str, Any] | None = None
    content_type: str | None = None
    changes: tuple[FieldChange, ...] = ()
    conflicts: tuple[FieldConflict, ...] = ()
    ownership_changed: bool = False

    @property
    def in_sync(self) -> bool:
        """Nothing to do: the live object is what the desired one would make it."""
        return self.action == "none"

    @property
    def refused(self) -> bool:
        """A server-side apply without force would be refused with 409 (see ``conflicts``)."""
        return bool(self.conflicts) and self.predicted is None

    def __repr__(self) -> str:
        extra = f", {len(self.changes)} changes" if self.changes else ""
        if self.conflicts:
            extra += f", {len(self.conflicts)} conflicts"
        return f"<ObjectDiff {self.ref} {self.action}{extra}>"

    def unified_diff(self, *, context: int = 3) -> str:
        """A unified diff of normalised YAML, live -> predicted; Secret values masked."""
        before = normalize(self.live) if self.live is not None else None
        after_src = self.predicted if self.predicted is not None else self.desired
        after = None if self.action == "prune" or after_src is None else normalize(after_src)
        mb, ma = mask_secret(before, after)
        name = str(self.ref)
        lines = difflib.unified_diff(
            _yaml(mb),
            _yaml(ma),
            fromfile=f"live/{name}" if self.live is not None else "/dev/null",
            tofile=f"desired/{name}" if after is not None else "/dev/null",
            n=context,
        )
        return "".join(lines)

    def to_json(self) -> dict[str, Any]:
        """A JSON-compatible summary (Secret values are masked)."""
        masked = self.ref.kind == "Secret"
        return {
            "ref": {
                "apiVersion": self.ref.api_version,
                "kind": self.ref.kind,
                "namespace": self.ref.namespace,
                "name": self.ref.name,
            },
            "action": self.action,
            "mode": self.mode,
            "inSync": self.in_sync,
            "ownershipChanged": self.ownership_changed,
            "changes": [
                c.to_json()
                if not masked
                else {**c.to_json(), "before": "++++++++", "after": "++++++++"}
                for c in self.changes
            ],
            "conflicts": [{"manager": c.manager, "path": c.path} for c in self.conflicts],
        }

    def _repr_html_(self) -> str:
        colour = {"none": "#2e7d32", "create": "#1565c0", "update": "#ef6c00", "prune": "#c62828"}
        head = (
            f"<div><b>{html.escape(str(self.ref))}</b> "
            f'<span style="color:{colour[self.action]}">{self.action}</span>'
        )
        if self.conflicts:
            head += f" &middot; {len(self.conflicts)} conflict(s)"
        rows = "".join(
            f"<tr><td><code>{html.escape(c.path)}</code></td>"
            f"<td>{html.escape(_short(c.before, self.ref.kind))}</td>"
            f"<td>{html.escape(_short(c.after, self.ref.kind))}</td>"
            f"<td>{html.escape(c.manager or '')}</td></tr>"
            for c in self.changes
        )
        table = (
            "<table><tr><th>field</th><th>live</th><th>after apply</th><th>owner</th></tr>"
            f"{rows}</table>"
            if rows
            else ""
        )
        diff = self.unified_diff()
        pre = f"<details><summary>YAML diff</summary><pre>{html.escape(diff)}</pre></details>"
        return head + table + (pre if diff else "") + "</div>"


def _short(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if kind == "Secret":
        return "++++++++"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
