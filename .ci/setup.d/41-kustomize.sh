#!/usr/bin/env bash
# Build the standalone kustomize (the version kubectl 1.37 embeds) from its Go
# module into the cache the renderer looks in
# (reconcile.render.tools.kustomize_cache_path). Idempotent: exits at once when
# the binary is there. Keep KUSTOMIZE_VERSION in step with reconcile/render/_tools.py.
set -euo pipefail
KUSTOMIZE_VERSION="v5.8.1"
KUSTOMIZE_MODULE="sigs.k8s.io/kustomize/kustomize/v5"
cache="${RECONCILE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/reconcile}"
target="$cache/tools/kustomize-$KUSTOMIZE_VERSION/kustomize"
if [ -x "$target" ]; then
  echo "kustomize $KUSTOMIZE_VERSION: cached at $target"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "kustomize $KUSTOMIZE_VERSION: no Go toolchain to build it" >&2
  exit 1
fi
mkdir -p "$(dirname "$target")"
gobin="$(mktemp -d "$cache/tools/kustomize-build.XXXXXX")"
trap 'rm -rf "$gobin"' EXIT
echo "kustomize $KUSTOMIZE_VERSION: building from $KUSTOMIZE_MODULE"
GOBIN="$gobin" GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0 \
  go install -trimpath \
  -ldflags "-s -w -X sigs.k8s.io/kustomize/api/provenance.version=$KUSTOMIZE_VERSION" \
  "$KUSTOMIZE_MODULE@$KUSTOMIZE_VERSION"
mv "$gobin/kustomize" "$target"
"$target" version
