"""Renderers turn an artifact into manifests: YAML, Kustomize, Helm, Jsonnet, Python callables."""
