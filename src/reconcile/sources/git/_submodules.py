"""Submodules: reading ``.gitmodules`` and resolving submodule URLs.

A submodule is a ``160000`` (gitlink) entry of a tree naming a commit of
another repository; ``.gitmodules``, a file in git-config syntax at the root
of the same tree, maps its path to a URL. URLs beginning with ``./`` or
``../`` are relative to the URL of the repository that holds the
``.gitmodules`` (as ``git submodule`` resolves them).

>>> text = b'[submodule "lib"]\\n\\tpath = vendor/lib\\n\\turl = ../lib.git\\n'
>>> parse_gitmodules(text)
{'vendor/lib': '../lib.git'}
>>> resolve_url("../lib.git", "https://git.example.com/org/app.git")
'https://git.example.com/org/lib.git'
"""

from __future__ import annotations

import re

from reconcile.errors import SourceError

__all__ = ["parse_gitmodules", "resolve_url"]

_SECTION = re.compile(r'^\[\s*submodule\s+"((?:[^"\\]|\\.)*)"\s*\]\s*(?:[#;].*)?$')
_OTHER_SECTION = re.compile(r"^\[[^\]]*\]\s*(?:[#;].*)?$")
_KEY = re.compile(r"^([A-Za-z][A-Za-z0-9-]*)\s*(?:=\s*(.*))?$")


_ESCAPES = {"n": "\n", "t": "\t", "b": "\b", "\\": "\\", '"': '"'}


def _value(raw: str, where: str) -> str:
    """A git-config value: a trailing comment cut, quotes removed, escapes resolved."""
    out: list[str] = []
    quoted = False
    i = 0
    raw = raw.strip()
    while i < len(raw):
        c = raw[i]
        if c == "\\":
            nxt = raw[i + 1 : i + 2]
            if nxt not in _ESCAPES:
                raise SourceError(f"{where}: invalid escape in a value")
            out.append(_ESCAPES[nxt])
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        elif c in "#;" and not quoted:
            while out and out[-1] in " \t" and raw[i - 1] != '"':
                out.pop()
            break
        else:
            out.append(c)
        i += 1
    if quoted:
        raise SourceError(f"{where}: an unterminated quote")
    return "".join(out)


def parse_gitmodules(data: bytes, *, where: str = ".gitmodules") -> dict[str, str]:
    """The ``path -> url`` map of a ``.gitmodules`` file.

    Other sections and keys are ignored; a submodule without a path or a URL
    is left out (git ignores it too). Raises
    :class:`~reconcile.errors.SourceError` on a line it cannot read, naming
    the file and line.

    >>> parse_gitmodules(b'[submodule "a"]\\n  path = "a b" # comment\\n  url = git://h/a\\n')
    {'a b': 'git://h/a'}
    """
    text = data.decode("utf-8", "replace")
    modules: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for number, line in enumerate(text.splitlines(), 1):
        here = f"{where}:{number}"
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        if stripped.startswith("["):
            m = _SECTION.match(stripped)
            if m:
                current = modules.setdefault(m.group(1), {})
            elif _OTHER_SECTION.match(stripped):
                current = None
            else:
                raise SourceError(f"{here}: cannot read the section header {stripped[:60]!r}")
            continue
        m = _KEY.match(stripped)
        if m is None:
            raise SourceError(f"{here}: cannot read {stripped[:60]!r}")
        if current is None:
            continue
        key = m.group(1).lower()
        if key in {"path", "url"}:
            if m.group(2) is None:
                raise SourceError(f"{here}: {key} has no value")
            current[key] = _value(m.group(2), here)
    return {
        mod["path"].strip("/"): mod["url"]
        for mod in modules.values()
        if "path" in mod and "url" in mod
    }


def resolve_url(url: str, base: str) -> str:
    """``url`` made absolute against ``base`` when it begins with ``./`` or ``../``.

    Each ``../`` drops one path component of ``base``; a trailing ``/`` of
    ``base`` is ignored. Other URLs are returned unchanged (and validated by
    the caller like any remote URL).

    >>> resolve_url("./sub", "git://h/app.git/")
    'git://h/app.git/sub'
    >>> resolve_url("../../x.git", "ssh://git@h/org/app.git")
    'ssh://git@h/x.git'
    """
    if not url.startswith(("./", "../")):
        return url
    scheme, sep, rest = base.rstrip("/").partition("://")
    if not sep:
        raise SourceError(f"relative submodule URL {url!r} needs a URL-style superproject remote")
    host, _, path = rest.partition("/")
    parts = [p for p in path.split("/") if p]
    rel = url
    while True:
        if rel.startswith("./"):
            rel = rel[2:]
        elif rel.startswith("../"):
            if not parts:
                raise SourceError(f"relative submodule URL {url!r} climbs above the host")
            parts.pop()
            rel = rel[3:]
        else:
            break
    joined = "/".join([*parts, rel]) if rel else "/".join(parts)
    return f"{scheme}://{host}/{joined}"
