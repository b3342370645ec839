"""Annotation parsing: every invalid value is a typed error naming object, origin and key."""

from __future__ import annotations

from typing import Any

import pytest

from reconcile.engine import annotations as a
from reconcile.errors import ManifestValidationError
from reconcile.objects import Manifest, Origin

ORIGIN = Origin("apps/web.yaml", document=1, line=3)


def manifest(**ann: Any) -> Manifest:
    return Manifest(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "annotations": ann},
        },
        ORIGIN,
    )


def test_every_key_uses_the_project_prefix_or_applyset() -> None:
    keys = [getattr(a, n) for n in a.__all__ if n.isupper() and n not in {"PREFIX", "DISABLED"}]
    keys.remove(a.MANAGED_BY_VALUE)
    for key in keys:
        assert key.startswith((a.PREFIX, "applyset.kubernetes.io/", "app.kubernetes.io/")), key
    assert a.SUBSTITUTE == "reconcile.dev/substitute"
    assert len(set(keys)) == len(keys)


@pytest.mark.parametrize(
    ("value", "wave"), [(None, 0), ("0", 0), ("-3", -3), ("+7", 7), (" 12 ", 12)]
)
def test_sync_wave(value: str | None, wave: int) -> None:
    m = manifest() if value is None else manifest(**{a.SYNC_WAVE: value})
    assert a.sync_wave(m) == wave


@pytest.mark.parametrize("value", ["one", "1.5", "", "1e3", "9999999999"])
def test_invalid_sync_wave_names_object_origin_and_annotation(value: str) -> None:
    with pytest.raises(ManifestValidationError) as caught:
        a.sync_wave(manifest(**{a.SYNC_WAVE: value}))
    err = caught.value
    assert err.origin == ORIGIN
    assert str(err.ref) == "apps/Deployment shop/web"
    assert err.path == "metadata.annotations.reconcile.dev/sync-wave"
    assert str(err).startswith("apps/web.yaml:3 (document 1), apps/Deployment shop/web")


def test_non_string_annotation_is_rejected() -> None:
    with pytest.raises(ManifestValidationError, match="must be a string"):
        a.sync_wave(manifest(**{a.SYNC_WAVE: 1}))


def test_hooks_and_delete_policies() -> None:
    m = manifest(**{a.HOOK: "post-sync,pre-sync,post-sync", a.HOOK_DELETE_POLICY: "hook-succeeded"})
    assert a.hook_phases(m) == (a.HookPhase.POST_SYNC, a.HookPhase.PRE_SYNC)
    assert a.hook_delete_policies(m) == {a.HookDeletePolicy.HOOK_SUCCEEDED}
    assert a.hook_phases(manifest()) == ()
    with pytest.raises(ManifestValidationError, match="unknown value 'presync'") as caught:
        a.hook_phases(manifest(**{a.HOOK: "presync"}))
    assert caught.value.path == f"metadata.annotations.{a.HOOK}"
    with pytest.raises(ManifestValidationError, match="hook-delete-policy"):
        a.hook_delete_policies(manifest(**{a.HOOK_DELETE_POLICY: "always"}))


def test_policy() -> None:
    assert a.object_policy(manifest()) is a.ObjectPolicy.OVERRIDE
    for p in a.ObjectPolicy:
        assert a.object_policy(manifest(**{a.POLICY: p.value})) is p
    with pytest.raises(ManifestValidationError, match="exactly one"):
        a.object_policy(manifest(**{a.POLICY: "merge,ignore"}))
    with pytest.raises(ManifestValidationError, match="unknown value 'replace'"):
        a.object_policy(manifest(**{a.POLICY: "replace"}))


def test_disabled_flags() -> None:
    assert a.prune_disabled(manifest(**{a.PRUNE: "disabled"}))
    assert not a.prune_disabled(manifest())
    assert a.substitution_disabled(manifest(**{a.SUBSTITUTE: "disabled"}))
    with pytest.raises(ManifestValidationError, match="the only value is 'disabled'"):
        a.prune_disabled(manifest(**{a.PRUNE: "false"}))


def test_plain_mappings_are_accepted_and_missing_metadata_is_tolerated() -> None:
    assert a.sync_wave({"kind": "X"}) == 0
    assert a.annotation({"metadata": {"annotations": None}}, a.HOOK) is None
