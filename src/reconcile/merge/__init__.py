"""The pure merge core.

Strategic merge patch, JSON merge patch, field sets and server-side apply
prediction, as pure functions over JSON values.
"""
