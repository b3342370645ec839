"""Merge metadata for Kubernetes types: list and map types, patch strategies and merge keys."""
