"""Redaction of credentials in URLs and messages.

Every URL that reaches an exception, a log line or a cache path goes through
:func:`redact_url` first; free text that may echo a secret (a tool's stderr)
goes through :func:`scrub`.

>>> redact_url("https://alice:s3cret@git.example.com/org/repo.git?token=abc")
'https://alice:***@git.example.com/org/repo.git?***'
>>> redact_url("ssh://git@example.com:2222/org/repo.git")
'ssh://git@example.com:2222/org/repo.git'
>>> scrub("fatal: password s3cret rejected", ["s3cret"])
'fatal: password *** rejected'
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable

__all__ = ["redact_url", "scrub"]

_SCHEME_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def redact_url(url: str) -> str:
    """The URL with its password (and its whole query string) replaced by ``***``.

    The user name stays: it says which account was used and is not a secret.
    Strings that are not ``scheme://`` URLs (scp-like ``git@host:path``, local
    paths) carry no password and are returned as they are.

    Example:

        >>> redact_url("https://user:s3cret@git.example.com/org/repo.git")
        'https://user:***@git.example.com/org/repo.git'
    """
    if not _SCHEME_URL.match(url):
        return url
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, sep, _password = userinfo.partition(":")
        netloc = f"{user}:***@{hostport}" if sep else f"{user}@{hostport}"
    query = "***" if parts.query else ""
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def scrub(text: str, secrets: Iterable[str | bytes | None]) -> str:
    """``text`` with every occurrence of each non-empty secret replaced by ``***``."""
    for secret in secrets:
        if not secret:
            continue
        value = secret.decode("utf-8", "replace") if isinstance(secret, bytes) else secret
        if len(value) >= 3:
            text = text.replace(value, "***")
    return text
