"""Commit and tag signature verification: OpenPGP (gpg) and SSH (ssh-keygen).

Signatures are split from the raw Git objects here, the same way for every
backend, and checked by the real tools against a keyring (or an
allowed-signers file) that holds only the trusted keys, in a private
temporary directory.

>>> raw = (b"tree 1\\nauthor a\\ngpgsig -----BEGIN PGP SIGNATURE-----\\n \\n abc\\n"
...        b" -----END PGP SIGNATURE-----\\n\\nmsg\\n")
>>> payload, sig = split_commit_signature(raw)
>>> payload
b'tree 1\\nauthor a\\n\\nmsg\\n'
>>> sig
b'-----BEGIN PGP SIGNATURE-----\\n\\nabc\\n-----END PGP SIGNATURE-----\\n'
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import anyio
import attrs

from reconcile.errors import ConfigurationError, SignatureError

__all__ = [
    "SignatureVerification",
    "split_commit_signature",
    "split_tag_signature",
    "verify_signature",
]

_PGP = b"-----BEGIN PGP SIGNATURE-----"
_SSH = b"-----BEGIN SSH SIGNATURE-----"


def _to_tuple(keys: Iterable[str]) -> tuple[str, ...]:
    if isinstance(keys, str):
        return (keys,)
    return tuple(keys)


@attrs.frozen(slots=True)
class SignatureVerification:
    """Which signatures must be valid, and whose keys are trusted.

    Attributes:
        mode: ``head`` (the fetched commit), ``tag`` (the annotated tag the ref
            points to; the ref must be a tag), or ``both``.
        openpgp_keys: ASCII-armored OpenPGP public keys.
        ssh_keys: SSH public keys, one ``<type> <base64> [comment]`` each.

    An unsigned object, a bad signature, or a signature by any other key
    raises :class:`~reconcile.errors.SignatureError`; no artifact is made.

    >>> SignatureVerification(mode="both", ssh_keys=["ssh-ed25519 AAAA test"]).mode
    'both'
    """

    mode: Literal["head", "tag", "both"] = "head"
    openpgp_keys: tuple[str, ...] = attrs.field(default=(), converter=_to_tuple)
    ssh_keys: tuple[str, ...] = attrs.field(default=(), converter=_to_tuple)

    def __attrs_post_init__(self) -> None:
        if self.mode not in {"head", "tag", "both"}:
            raise ConfigurationError(f"signature mode must be head, tag or both, not {self.mode!r}")
        if not self.openpgp_keys and not self.ssh_keys:
            raise ConfigurationError("signature verification needs at least one trusted key")
        for key in self.ssh_keys:
            if "\n" in key.strip() or len(key.split()) < 2:
                raise ConfigurationError("each SSH key must be one '<type> <base64>' line")


def split_commit_signature(raw: bytes) -> tuple[bytes, bytes | None]:
    """Split a raw commit into (signed payload, signature or None)."""
    header, sep, message = raw.partition(b"\n\n")
    lines = header.split(b"\n")
    kept: list[bytes] = []
    sig: list[bytes] = []
    in_sig = False
    for line in lines:
        if line.startswith((b"gpgsig ", b"gpgsig-sha256 ")):
            in_sig = True
            sig.append(line.split(b" ", 1)[1])
            continue
        if in_sig and line.startswith(b" "):
            sig.append(line[1:])
            continue
        in_sig = False
        kept.append(line)
    payload = b"\n".join(kept) + sep + message
    return payload, (b"\n".join(sig) + b"\n") if sig else None


def split_tag_signature(raw: bytes) -> tuple[bytes, bytes | None]:
    """Split a raw annotated tag into (signed payload, signature or None)."""
    best = -1
    for marker in (_PGP, _SSH):
        idx = raw.rfind(b"\n" + marker)
        if idx > best:
            best = idx
    if best < 0:
        return raw, None
    return raw[: best + 1], raw[best + 1 :]


async def _run(
    args: Sequence[str], *, env: dict[str, str] | None = None, stdin: bytes | None = None
) -> tuple[int, str]:
    with anyio.fail_after(120):
        proc = await anyio.run_process(list(args), input=stdin, check=False, env=env)
    return proc.returncode, (proc.stdout + proc.stderr).decode("utf-8", "replace")


async def _verify_pgp(payload: bytes, sig: bytes, keys: Sequence[str], tmp: Path, what: str) -> str:
    gpg = shutil.which("gpg")
    if gpg is None:
        raise SignatureError(f"{what}: cannot verify an OpenPGP signature: gpg is not installed")
    home = tmp / "gnupg"
    home.mkdir(mode=0o700)
    env = {**os.environ, "GNUPGHOME": str(home), "LC_ALL": "C"}
    for i, key in enumerate(keys):
        key_file = tmp / f"key{i}.asc"
        key_file.write_text(key)
        code, out = await _run([gpg, "--batch", "--quiet", "--import", str(key_file)], env=env)
        if code != 0:
            raise ConfigurationError(f"a trusted OpenPGP key could not be imported: {out.strip()}")
    sig_file = tmp / "sig.asc"
    data_file = tmp / "payload"
    sig_file.write_bytes(sig)
    data_file.write_bytes(payload)
    code, out = await _run(
        [gpg, "--batch", "--status-fd", "1", "--verify", str(sig_file), str(data_file)], env=env
    )
    status = [ln.split()[1:] for ln in out.splitlines() if ln.startswith("[GNUPG:] ")]
    tags = {s[0] for s in status if s}
    bad = tags & {"BADSIG", "ERRSIG", "EXPKEYSIG", "REVKEYSIG", "EXPSIG", "NO_PUBKEY"}
    if code != 0 or bad or "GOODSIG" not in tags or "VALIDSIG" not in tags:
        reason = "not signed by a trusted key" if {"ERRSIG", "NO_PUBKEY"} & tags else "invalid"
        if "BADSIG" in tags:
            reason = "a bad signature (the content does not match)"
        raise SignatureError(f"{what}: OpenPGP signature is {reason}")
    fpr = next(s[1] for s in status if s and s[0] == "VALIDSIG")
    return f"openpgp:{fpr}"


async def _verify_ssh(payload: bytes, sig: bytes, keys: Sequence[str], tmp: Path, what: str) -> str:
    keygen = shutil.which("ssh-keygen")
    if keygen is None:
        raise SignatureError(f"{what}: cannot verify an SSH signature: ssh-keygen is not installed")
    allowed = tmp / "allowed_signers"
    allowed.write_text(
        "".join(
            f'trusted-{i} namespaces="git" {" ".join(k.split()[:2])}\n' for i, k in enumerate(keys)
        )
    )
    sig_file = tmp / "sig.ssh"
    sig_file.write_bytes(sig)
    code, out = await _run(
        [keygen, "-Y", "find-principals", "-s", str(sig_file), "-f", str(allowed)]
    )
    principal = out.strip().splitlines()[0] if code == 0 and out.strip() else None
    if principal is None or not principal.startswith("trusted-"):
        raise SignatureError(f"{what}: SSH signature is not made by a trusted key")
    code, out = await _run(
        [
            keygen,
            "-Y",
            "verify",
            "-f",
            str(allowed),
            "-I",
            principal,
            "-n",
            "git",
            "-s",
            str(sig_file),
        ],
        stdin=payload,
    )
    if code != 0:
        raise SignatureError(f"{what}: SSH signature is invalid")
    return f"ssh:{principal}"


async def verify_signature(
    payload: bytes, sig: bytes | None, policy: SignatureVerification, *, what: str
) -> str:
    """Check one signature against ``policy``'s keys; return who signed.

    ``what`` names the object in messages (``commit 1a2b3c``).
    """
    if sig is None:
        raise SignatureError(f"{what} is not signed")
    with tempfile.TemporaryDirectory(prefix="rcv-") as tmp_s:
        tmp = Path(tmp_s)
        os.chmod(tmp, 0o700)
        if sig.lstrip().startswith(_PGP):
            if not policy.openpgp_keys:
                raise SignatureError(f"{what}: OpenPGP signature, but no OpenPGP key is trusted")
            return await _verify_pgp(payload, sig, policy.openpgp_keys, tmp, what)
        if sig.lstrip().startswith(_SSH):
            if not policy.ssh_keys:
                raise SignatureError(f"{what}: SSH signature, but no SSH key is trusted")
            return await _verify_ssh(payload, sig, policy.ssh_keys, tmp, what)
    raise SignatureError(f"{what}: unknown signature format")
