"""Which commit to fetch: branch, tag, semver range, full ref name or commit.

Precedence when several are given (the same as Flux's GitRepository):
``commit`` > ``name`` > ``semver`` > ``tag`` > ``branch``. One exception: a
``commit`` together with a ``branch`` fetches that branch and checks that the
commit is on it (reachable from its tip). With nothing given, the remote's
``HEAD`` (its default branch) is used.

Semver ranges: comparators (``>=1.2.0``, ``<2.0.0``, ``=1.4.1``, ``!=1.3.0``),
caret and tilde (``^1.2``, ``~1.2.3``), wildcards (``1.x``, ``1.2.*``, ``*``),
hyphen ranges (``1.0.0 - 2.0.0``), joined by spaces or commas (all must hold)
and by ``||`` (any group may hold). Tags may carry a ``v`` prefix. The highest
matching version wins; two tags naming the same version (``v1.0.0`` and
``1.0.0``) resolve to the one whose name sorts first.

**Pre-release rule** (the npm rule): a pre-release version such as
``1.3.0-rc.1`` matches only if some comparator in the same ``||`` group has a
pre-release on the same ``major.minor.patch``. ``>=1.3.0-rc.0`` matches
``1.3.0-rc.1`` (and ``1.3.0``) but not ``1.4.0-rc.1``; ``^1.0.0`` never matches
a pre-release.

>>> remote = {"refs/tags/v1.2.0": "a" * 40, "refs/tags/v1.3.0-rc.1": "b" * 40,
...           "refs/tags/v1.10.0": "c" * 40, "refs/tags/v2.0.0": "d" * 40}
>>> best_semver(remote, "^1.0").tag
'v1.10.0'
>>> best_semver(remote, ">=1.3.0-rc.0 <1.4.0").tag
'v1.3.0-rc.1'
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import attrs

from reconcile.errors import ConfigurationError, RefNotFoundError, SourceSecurityError

__all__ = ["GitRef", "ResolvedRef", "best_semver", "parse_range", "resolve_ref"]

_SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_BAD_REF = re.compile(r"(?:\.\.|[\x00-\x20\x7f~^:?*\[\\]|@\{|//|/\.|\.lock$|\.$|/$)")


def check_ref_name(name: str, what: str) -> None:
    """Refuse ref names that git would refuse, or that read as options."""
    if not name or name.startswith("-"):
        raise SourceSecurityError(f"{what} {name!r} is refused: it must not begin with '-'")
    if _BAD_REF.search(name) or name.startswith("/"):
        raise SourceSecurityError(f"{what} {name!r} is not a valid git ref name")


@attrs.frozen(slots=True)
class GitRef:
    """What to fetch. See the module documentation for precedence.

    >>> GitRef(tag="v1.0.0").describe()
    'tag v1.0.0'
    >>> GitRef(commit="a" * 40, branch="main").describe()
    'commit aaaaaaaaaaaa on branch main'
    """

    branch: str | None = None
    tag: str | None = None
    semver: str | None = None
    name: str | None = None
    commit: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.branch is not None:
            check_ref_name(self.branch, "branch")
        if self.tag is not None:
            check_ref_name(self.tag, "tag")
        if self.name is not None:
            check_ref_name(self.name, "ref name")
            if not self.name.startswith("refs/") and self.name != "HEAD":
                raise ConfigurationError(f"ref name {self.name!r} must be a full name (refs/...)")
        if self.commit is not None:
            if self.commit.startswith("-"):
                raise SourceSecurityError("a commit beginning with '-' is refused")
            if not _SHA.match(self.commit):
                raise ConfigurationError(
                    f"commit {self.commit!r} must be a full hexadecimal SHA (40 or 64 digits)"
                )
        if self.semver is not None:
            parse_range(self.semver)

    def describe(self) -> str:
        """A short human description, for messages."""
        if self.commit:
            on = f" on branch {self.branch}" if self.branch else ""
            return f"commit {self.commit[:12]}{on}"
        if self.name:
            return f"ref {self.name}"
        if self.semver:
            return f"semver {self.semver!r}"
        if self.tag:
            return f"tag {self.tag}"
        if self.branch:
            return f"branch {self.branch}"
        return "HEAD"


@attrs.frozen(slots=True)
class ResolvedRef:
    """A ref resolved against the remote's advertised refs.

    Attributes:
        ref: the full ref name (``None`` for a bare commit).
        commit: the commit SHA (peeled through annotated tags).
        tag_object: the SHA of the annotated tag object, when the ref is one.
        fetch_ref: what to fetch: a ref name, or the commit itself.

    Example:

        >>> ResolvedRef("refs/heads/main", "a" * 40).commit == "a" * 40
        True
    """

    ref: str | None
    commit: str
    tag_object: str | None = None


@attrs.frozen(slots=True)
class _Comparator:
    op: str
    version: object  # semver.Version

    def test(self, v: object) -> bool:
        c: int = v.compare(self.version)  # type: ignore[attr-defined]
        return {
            ">": c > 0,
            ">=": c >= 0,
            "<": c < 0,
            "<=": c <= 0,
            "=": c == 0,
            "!=": c != 0,
        }[self.op]


_PART = re.compile(
    r"^(?P<op>>=|<=|!=|==|=|>|<|\^|~>|~)?\s*v?(?P<ver>[0-9xX*]+(?:\.[0-9xX*]+){0,2}(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?)$"
)


def _partial(text: str) -> tuple[list[int | None], str | None]:
    core, _, _build = text.partition("+")
    core, _, pre = core.partition("-")
    nums: list[int | None] = []
    for piece in core.split("."):
        nums.append(None if piece in {"x", "X", "*"} else int(piece))
    while len(nums) < 3:
        nums.append(None)
    # Everything after a wildcard is a wildcard.
    for i in range(3):
        if nums[i] is None:
            nums[i + 1 :] = [None] * (2 - i)
            break
    return nums, pre or None


def _v(major: int, minor: int, patch: int, pre: str | None = None) -> object:
    import semver

    return semver.Version(major, minor, patch, prerelease=pre)


def _expand(op: str, text: str) -> list[_Comparator]:
    nums, pre = _partial(text)
    major, minor, patch = nums
    if op == "==":
        op = "="
    if major is None:
        return (
            [] if op in {"", "=", ">=", "<=", "^", "~", "~>"} else [_Comparator("<", _v(0, 0, 0))]
        )
    if minor is None or patch is None:
        lo = _v(major, minor or 0, 0)
        hi = _v(major + 1, 0, 0) if minor is None else _v(major, minor + 1, 0)
        if op in {"", "=", "^", "~", "~>"}:
            if op == "^" and major > 0:
                hi = _v(major + 1, 0, 0)
            return [_Comparator(">=", lo), _Comparator("<", hi)]
        if op == ">":
            return [_Comparator(">=", hi)]
        if op == ">=":
            return [_Comparator(">=", lo)]
        if op == "<":
            return [_Comparator("<", lo)]
        if op == "<=":
            return [_Comparator("<", hi)]
        raise ConfigurationError(f"semver: '!=' needs a full version, got {text!r}")
    exact = _v(major, minor, patch, pre)
    if op == "^":
        if major > 0:
            hi = _v(major + 1, 0, 0)
        elif minor > 0:
            hi = _v(0, minor + 1, 0)
        else:
            hi = _v(0, 0, patch + 1)
        return [_Comparator(">=", exact), _Comparator("<", hi)]
    if op in {"~", "~>"}:
        return [_Comparator(">=", exact), _Comparator("<", _v(major, minor + 1, 0))]
    return [_Comparator(op or "=", exact)]


def parse_range(expr: str) -> list[list[_Comparator]]:
    """Parse a semver range into OR-groups of AND-ed comparators.

    >>> len(parse_range(">=1.0.0 <2.0.0 || ^3.1"))
    2
    >>> parse_range("banana")
    Traceback (most recent call last):
    ...
    reconcile.errors.ConfigurationError: invalid semver range 'banana': 'banana' is not a comparator
    """
    groups: list[list[_Comparator]] = []
    if not expr.strip():
        raise ConfigurationError("invalid semver range '': it is empty")
    for alternative in expr.split("||"):
        text = alternative.strip()
        comparators: list[_Comparator] = []
        hyphen = re.match(r"^(\S+)\s+-\s+(\S+)$", text)
        if hyphen:
            lo, hi = hyphen.groups()
            comparators += _expand(">=", lo)
            comparators += _expand("<=", hi)
            groups.append(comparators)
            continue
        # Glue "op version" written with a space ("> 1.0") back together.
        tokens = re.findall(r"(?:>=|<=|!=|==|=|>|<|\^|~>|~)?\s*[^\s,]+", text.replace(",", " "))
        if not tokens:
            raise ConfigurationError(f"invalid semver range {expr!r}: an empty alternative")
        for token in tokens:
            m = _PART.match(token.strip())
            if not m:
                raise ConfigurationError(
                    f"invalid semver range {expr!r}: {token.strip()!r} is not a comparator"
                )
            try:
                comparators += _expand(m.group("op") or "", m.group("ver"))
            except ValueError as exc:
                raise ConfigurationError(f"invalid semver range {expr!r}: {exc}") from exc
        groups.append(comparators)
    return groups


def _group_matches(group: list[_Comparator], v: object) -> bool:
    if not all(c.test(v) for c in group):
        return False
    if v.prerelease is None:  # type: ignore[attr-defined]
        return True
    core = (v.major, v.minor, v.patch)  # type: ignore[attr-defined]
    return any(
        c.version.prerelease is not None  # type: ignore[attr-defined]
        and (c.version.major, c.version.minor, c.version.patch) == core  # type: ignore[attr-defined]
        for c in group
    )


@attrs.frozen(slots=True)
class SemverMatch:
    """The tag chosen for a semver range."""

    tag: str
    version: str


def best_semver(refs: Mapping[str, str], expr: str) -> SemverMatch | None:
    """The highest tag in ``refs`` (``refs/tags/*`` names) that satisfies ``expr``.

    Example:

        >>> refs = {"refs/tags/v1.2.0": "a" * 40, "refs/tags/v1.10.1": "b" * 40,
        ...         "refs/tags/v2.0.0": "c" * 40}
        >>> best_semver(refs, ">=1.0.0 <2.0.0")
        SemverMatch(tag='v1.10.1', version='1.10.1')
    """
    import semver

    groups = parse_range(expr)
    best: tuple[object, str] | None = None
    for ref in refs:
        if not ref.startswith("refs/tags/") or ref.endswith("^{}"):
            continue
        tag = ref[len("refs/tags/") :]
        text = tag[1:] if tag[:1] in {"v", "V"} else tag
        try:
            version = semver.Version.parse(text)
        except ValueError:
            continue
        if not any(_group_matches(g, version) for g in groups):
            continue
        if best is None:
            best = (version, tag)
            continue
        cmp = version.compare(best[0])  # type: ignore[arg-type]
        if cmp > 0 or (cmp == 0 and tag < best[1]):
            best = (version, tag)
    if best is None:
        return None
    return SemverMatch(tag=best[1], version=str(best[0]))


def resolve_ref(
    ref: GitRef, refs: Mapping[str, str], symrefs: Mapping[str, str], *, url: str
) -> ResolvedRef:
    """Resolve ``ref`` against a remote's advertised ``refs`` (name -> SHA).

    ``refs`` may contain peeled tags (``refs/tags/v1^{}``). A bare ``commit``
    (without a branch) is not resolved here: the caller fetches it directly.
    """

    def tag(name: str) -> ResolvedRef:
        full = f"refs/tags/{name}"
        if full not in refs:
            raise RefNotFoundError(f"tag {name!r} not found", url=url)
        peeled = refs.get(full + "^{}")
        if peeled is not None:
            return ResolvedRef(full, peeled, tag_object=refs[full])
        return ResolvedRef(full, refs[full])

    if ref.commit is not None and ref.branch is None:
        return ResolvedRef(None, ref.commit)
    if ref.commit is not None:
        full = f"refs/heads/{ref.branch}"
        if full not in refs:
            raise RefNotFoundError(f"branch {ref.branch!r} not found", url=url)
        return ResolvedRef(full, ref.commit)
    if ref.name is not None:
        if ref.name.startswith("refs/tags/"):
            return tag(ref.name[len("refs/tags/") :])
        if ref.name not in refs:
            raise RefNotFoundError(f"ref {ref.name!r} not found", url=url)
        return ResolvedRef(ref.name, refs[ref.name])
    if ref.semver is not None:
        match = best_semver(refs, ref.semver)
        if match is None:
            raise RefNotFoundError(f"no tag matches semver range {ref.semver!r}", url=url)
        return tag(match.tag)
    if ref.tag is not None:
        return tag(ref.tag)
    if ref.branch is not None:
        full = f"refs/heads/{ref.branch}"
        if full not in refs:
            raise RefNotFoundError(f"branch {ref.branch!r} not found", url=url)
        return ResolvedRef(full, refs[full])
    if "HEAD" not in refs:
        raise RefNotFoundError("the remote has no HEAD (an empty repository?)", url=url)
    target = symrefs.get("HEAD")
    return ResolvedRef(target if target in refs else "HEAD", refs["HEAD"])
