"""Validation of Git remote URLs: only transports that cannot run commands.

>>> parse_remote("https://git.example.com/org/repo.git").scheme
'https'
>>> parse_remote("git@example.com:org/repo.git").url
'ssh://git@example.com/org/repo.git'
>>> parse_remote("ext::sh -c touch% /tmp/pwned")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
reconcile.errors.SourceSecurityError: ext::sh -c ...: transport 'ext' is refused: ...
"""

from __future__ import annotations

import re
import urllib.parse
from pathlib import Path

import attrs

from reconcile.errors import SourceSecurityError
from reconcile.sources._redact import redact_url

__all__ = ["ParsedRemote", "parse_remote"]

_SCP_LIKE = re.compile(
    r"^(?:(?P<user>[^@/:\s]+)@)?(?P<host>[A-Za-z0-9._-]+|\[[0-9a-fA-F:.]+\]):(?P<path>[^/].*|/.*)$"
)
_TRANSPORT = re.compile(r"^(?P<t>[A-Za-z][A-Za-z0-9+.-]*)::")
_NETWORK = ("https", "http", "git", "ssh")


@attrs.frozen(slots=True)
class ParsedRemote:
    """A validated remote.

    Attributes:
        url: the URL without credentials (scp-like syntax turned into ``ssh://``).
        scheme: ``https``, ``http``, ``git``, ``ssh`` or ``file``.
        username: the user name from the URL, if any.
        password: the password from the URL, if any (moved out of ``url``).
        host, port, path: the parts of the URL.

    Example:

        >>> remote = parse_remote("git@git.example.com:org/repo.git")
        >>> remote.scheme, remote.host, remote.path
        ('ssh', 'git.example.com', '/org/repo.git')
    """

    url: str
    scheme: str
    username: str | None
    password: str | None = attrs.field(repr=lambda v: "None" if v is None else "***")
    host: str
    port: int | None
    path: str

    @property
    def redacted(self) -> str:
        """The URL as it may appear in messages."""
        return redact_url(self.url)


def parse_remote(url: str, *, allow_file: bool = False) -> ParsedRemote:
    """Parse and validate ``url``; raise :class:`SourceSecurityError` if refused.

    Refused: anything beginning with ``-`` (it would be read as an option),
    ``<transport>::<address>`` helpers (``ext::`` runs commands, ``fd::`` reads
    file descriptors), schemes other than https, http, git, ssh, and
    ``file://`` or local paths unless ``allow_file``. Control characters and
    whitespace in the host are refused.

    Example:

        >>> r = parse_remote("https://bot:tok@git.example.com/org/repo.git")
        >>> r.url, r.username
        ('https://git.example.com/org/repo.git', 'bot')
    """
    shown = redact_url(url)
    if not url or url.startswith("-"):
        raise SourceSecurityError("a URL beginning with '-' is refused", url=shown)
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise SourceSecurityError("control characters in the URL are refused", url=shown)
    m = _TRANSPORT.match(url)
    if m:
        raise SourceSecurityError(
            f"transport {m.group('t')!r} is refused: remote helpers can run commands",
            url=shown,
        )
    if "://" in url:
        try:
            parts = urllib.parse.urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise SourceSecurityError(f"invalid URL: {exc}", url=shown) from exc
        scheme = parts.scheme.lower()
        if scheme == "file":
            if not allow_file:
                raise SourceSecurityError("file:// URLs are refused unless allowed", url=shown)
            return ParsedRemote(url, "file", None, None, "", None, parts.path)
        if scheme not in _NETWORK:
            raise SourceSecurityError(f"transport {scheme!r} is refused", url=shown)
        host = parts.hostname or ""
        if not host or host.startswith("-") or any(c.isspace() for c in host):
            raise SourceSecurityError("the URL has no valid host", url=shown)
        username = urllib.parse.unquote(parts.username) if parts.username else None
        password = urllib.parse.unquote(parts.password) if parts.password else None
        if username is not None and username.startswith("-"):
            raise SourceSecurityError("a user name beginning with '-' is refused", url=shown)
        netloc = host if ":" not in host else f"[{host}]"
        if port is not None:
            netloc += f":{port}"
        if parts.username and scheme == "ssh":
            netloc = f"{parts.username}@{netloc}"
        clean = urllib.parse.urlunsplit((scheme, netloc, parts.path, parts.query, ""))
        return ParsedRemote(clean, scheme, username, password, host, port, parts.path)
    m2 = _SCP_LIKE.match(url)
    if m2 and not url.startswith("/") and not url.startswith("."):
        user, host, path = m2.group("user"), m2.group("host"), m2.group("path")
        host = host.strip("[]")
        if host.startswith("-"):
            raise SourceSecurityError("a host beginning with '-' is refused", url=shown)
        netloc = f"{user}@{host}" if user else host
        path = path if path.startswith("/") else "/" + path
        return ParsedRemote(f"ssh://{netloc}{path}", "ssh", user, None, host, None, path)
    if not allow_file:
        raise SourceSecurityError("local paths are refused unless allowed", url=shown)
    return ParsedRemote(Path(url).resolve().as_uri(), "file", None, None, "", None, url)
