#!/usr/bin/env bash
# The merge core's differential tests compare it with Kubernetes' own Go code:
# tests/oracle is a small Go program (k8s.io/apimachinery + client-go v0.37.2).
# Build it into ~/.cache/reconcile/oracle/<hash> now, so that the tests find it
# (they would build it themselves, but a cold build can take minutes).
# Idempotent: returns at once when the binary for these sources exists.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  export PATH="$PATH:/usr/local/go/bin"
fi
if ! command -v go >/dev/null 2>&1; then
  echo "30-merge-oracle: Go is not installed; the merge differential tests will fail in CI" >&2
  exit 1
fi
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0
python3 - <<'PY'
import sys
sys.path.insert(0, "tests")
import oracle  # standard library only at build time

print("merge oracle:", oracle.build())
PY
