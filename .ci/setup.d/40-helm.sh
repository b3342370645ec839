#!/usr/bin/env bash
# Build helm from its Go module into the cache the renderer looks in
# (reconcile.render.tools.helm_cache_path). Idempotent: exits at once when the
# binary is there. Keep HELM_VERSION in step with reconcile/render/_tools.py.
set -euo pipefail
HELM_VERSION="v4.3.1"
HELM_MODULE="helm.sh/helm/v4"
cache="${RECONCILE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/reconcile}"
target="$cache/tools/helm-$HELM_VERSION/helm"
if [ -x "$target" ]; then
  echo "helm $HELM_VERSION: cached at $target"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "helm $HELM_VERSION: no Go toolchain to build it" >&2
  exit 1
fi
mkdir -p "$(dirname "$target")"
gobin="$(mktemp -d "$cache/tools/helm-build.XXXXXX")"
trap 'rm -rf "$gobin"' EXIT
echo "helm $HELM_VERSION: building from $HELM_MODULE"
GOBIN="$gobin" GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0 \
  go install -trimpath \
  -ldflags "-s -w -X $HELM_MODULE/internal/version.version=$HELM_VERSION" \
  "$HELM_MODULE/cmd/helm@$HELM_VERSION"
mv "$gobin/helm" "$target"
"$target" version --short
