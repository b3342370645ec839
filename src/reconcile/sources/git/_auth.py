"""Credentials for Git remotes: HTTPS (basic, bearer, CA bundle) and SSH keys.

Credentials are never written into a URL, a command line, a cache path, a log
line or an exception message. ``repr()`` hides them too:

>>> HTTPSAuth(username="bot", password="hunter22")
HTTPSAuth(username='bot', password=***, bearer_token=None, ca_bundle=None)
"""

from __future__ import annotations

import os
from pathlib import Path

import attrs

from reconcile.errors import ConfigurationError

__all__ = ["HTTPSAuth", "SSHAuth"]


def _secret_repr(value: object) -> str:
    return "None" if value is None else "***"


@attrs.frozen(slots=True)
class HTTPSAuth:
    """Authentication for ``https://`` remotes.

    Give ``username`` and ``password`` for basic auth, or ``bearer_token``
    (sent as ``Authorization: Bearer <token>``); not both. ``ca_bundle`` is
    PEM text (``str`` or ``bytes``) or a path to a PEM file of the certificate
    authorities to trust instead of the system's.

    Example:

        >>> HTTPSAuth(username="bot", password="s3cret")
        HTTPSAuth(username='bot', password=***, bearer_token=None, ca_bundle=None)
    """

    username: str | None = None
    password: str | None = attrs.field(default=None, repr=_secret_repr)
    bearer_token: str | None = attrs.field(default=None, repr=_secret_repr)
    ca_bundle: bytes | str | os.PathLike[str] | None = attrs.field(
        default=None, repr=lambda v: "None" if v is None else "<CA bundle>"
    )

    def __attrs_post_init__(self) -> None:
        if self.bearer_token is not None and (self.username or self.password):
            raise ConfigurationError("HTTPSAuth: give basic auth or a bearer token, not both")
        if self.password is not None and not self.username:
            raise ConfigurationError("HTTPSAuth: a password needs a username")
        for value in (self.username, self.password, self.bearer_token):
            if value is not None and ("\n" in value or "\r" in value or "\0" in value):
                raise ConfigurationError("HTTPSAuth: credentials must not contain line breaks")

    def ca_pem(self) -> bytes | None:
        """The CA bundle's PEM bytes, reading the file when a path was given."""
        if self.ca_bundle is None:
            return None
        if isinstance(self.ca_bundle, bytes):
            return self.ca_bundle
        if isinstance(self.ca_bundle, str) and "-----BEGIN" in self.ca_bundle:
            return self.ca_bundle.encode()
        try:
            return Path(self.ca_bundle).read_bytes()
        except OSError as exc:
            raise ConfigurationError(f"HTTPSAuth: cannot read the CA bundle: {exc}") from exc

    def secrets(self) -> list[str]:
        """The values to scrub from any text that leaves this package."""
        return [s for s in (self.password, self.bearer_token) if s]


@attrs.frozen(slots=True)
class SSHAuth:
    """Authentication for ``ssh://`` and scp-like (``git@host:path``) remotes.

    ``private_key`` is the key in OpenSSH or PEM format (text or bytes) or a
    path to it; ``passphrase`` decrypts it. ``known_hosts`` is the text of a
    known_hosts file (or a path to one) and is required: the server's host key
    must be listed there, or the connection is refused; nothing is ever added
    to it. ``user`` overrides the user name in the URL.

    Example:

        >>> auth = SSHAuth(private_key="~/.ssh/id_ed25519",
        ...                known_hosts="git.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA")
        >>> auth.user is None
        True
    """

    private_key: bytes | str | os.PathLike[str] = attrs.field(repr=lambda v: "***")
    known_hosts: str | os.PathLike[str] = attrs.field(repr=lambda v: "<known_hosts>")
    passphrase: str | None = attrs.field(default=None, repr=_secret_repr)
    user: str | None = None

    def key_bytes(self) -> bytes:
        """The private key's bytes, reading the file when a path was given."""
        key = self.private_key
        if isinstance(key, bytes):
            return key
        if isinstance(key, str) and "-----BEGIN" in key:
            return key.encode()
        try:
            return Path(key).read_bytes()
        except OSError as exc:
            raise ConfigurationError(f"SSHAuth: cannot read the private key: {exc}") from exc

    def known_hosts_text(self) -> str:
        """The known_hosts content, reading the file when a path was given."""
        value = self.known_hosts
        if isinstance(value, str) and ("\n" in value or " " in value.strip()):
            return value
        try:
            return Path(value).read_text()
        except OSError as exc:
            raise ConfigurationError(f"SSHAuth: cannot read known_hosts: {exc}") from exc

    def secrets(self) -> list[str]:
        """The values to scrub from any text that leaves this package."""
        return [self.passphrase] if self.passphrase else []
