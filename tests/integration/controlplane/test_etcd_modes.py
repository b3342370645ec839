"""etcd durability: tests skip fsync by default, ``etcd_fsync=True`` syncs like production."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconcile.testing import (
    ControlPlane,
    ControlPlaneAssets,
)

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("fsync", [False, True])
def test_etcd_fsync_mode(assets: ControlPlaneAssets, tmp_path: Path, fsync: bool) -> None:
    with ControlPlane(assets=assets, workdir=tmp_path, etcd_fsync=fsync) as plane:
        assert plane.etcd is not None
        assert f"--unsafe-no-fsync={str(not fsync).lower()}" in plane.etcd.args
        status, body = plane.request(
            "POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "durable"}}
        )
        assert status == 201, body
        # The data directory is on disk under the work directory, with its write-ahead log.
        [data] = [p for p in tmp_path.iterdir() if p.name.startswith("etcd-")]
        assert list((data / "member" / "wal").glob("*.wal"))
