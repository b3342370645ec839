"""The Differ: decides drift and presents it (unified YAML, structured changes, JSON, HTML)."""
