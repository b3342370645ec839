"""``python -m reconcile.testing build|start``: prepare or run a control plane by hand."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading

from reconcile.errors import ControlPlaneError
from reconcile.testing._assets import find_assets
from reconcile.testing._controlplane import ControlPlane


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m reconcile.testing")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="find or build kube-apiserver, etcd (and more)")
    build.add_argument("--controller-manager", action="store_true")
    start = sub.add_parser("start", help="run a control plane until interrupted")
    start.add_argument("--controller-manager", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            assets = find_assets(controller_manager=args.controller_manager)
            print(f"kube-apiserver: {assets.kube_apiserver}")
            print(f"etcd: {assets.etcd}")
            print(f"kubectl: {assets.kubectl}")
            if assets.kube_controller_manager:
                print(f"kube-controller-manager: {assets.kube_controller_manager}")
            return 0
        done = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: done.set())
        with ControlPlane(controller_manager=args.controller_manager) as plane:
            print(f"server: {plane.server}")
            print(f"export KUBECONFIG={plane.kubeconfig}", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                done.wait()
        return 0
    except ControlPlaneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
