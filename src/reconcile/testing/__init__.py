"""Test helpers for users and for this project: a real control plane, fixtures."""
