"""The server's warnings reach the caller instead of being dropped."""

from __future__ import annotations

import logging

import pytest

from reconcile.cluster import Action, KubernetesApplier

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


def deployment(name: str, memory: str) -> dict[str, object]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "nginx",
                            "resources": {"limits": {"memory": memory}},
                        }
                    ]
                },
            },
        },
    }


async def test_server_warnings_are_on_the_result_and_logged(
    applier: KubernetesApplier, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="reconcile.cluster.kubernetes._transport")
    # 128m is 0.128 bytes: accepted, with a warning (128Mi was meant).
    result = await applier.apply(deployment("milli", "128m"))
    assert result.action is Action.CREATED
    assert len(result.warnings) == 1
    [warning] = result.warnings
    assert "fractional byte value" in warning
    assert "limits[memory]" in warning
    assert any("fractional byte value" in r.getMessage() for r in caplog.records)
    clean = await applier.apply(deployment("mebi", "128Mi"))
    assert clean.action is Action.CREATED
    assert clean.warnings == ()
