"""Ref resolution, semver ranges with the pre-release rule, URL and ref safety, redaction."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconcile.errors import ConfigurationError, RefNotFoundError, SourceSecurityError
from reconcile.sources import redact_url
from reconcile.sources.git import GitRef, GitSource, HTTPSAuth, SSHAuth, best_semver, parse_remote
from reconcile.sources.git._refs import resolve_ref

A, B, C, D, E = ("a" * 40, "b" * 40, "c" * 40, "d" * 40, "e" * 40)
URL = "https://example.com/r.git"

REFS = {
    "HEAD": A,
    "refs/heads/main": A,
    "refs/heads/dev": B,
    "refs/tags/v1.0.0": C,
    "refs/tags/v1.0.0^{}": A,
    "refs/tags/v1.1.0-rc.1": D,
    "refs/tags/v1.1.0": E,
    "refs/tags/2.0.0": B,
    "refs/tags/not-semver": B,
    "refs/pull/1/head": D,
}


def _tags(*names: str) -> dict[str, str]:
    return {f"refs/tags/{n}": A for n in names}


def test_precedence_commit_name_semver_tag_branch() -> None:
    full = GitRef(branch="dev", tag="v1.0.0", semver="^1", name="refs/pull/1/head", commit=B)
    assert resolve_ref(full, REFS, {}, url=URL).commit == B  # commit wins (on branch dev)
    assert resolve_ref(full, REFS, {}, url=URL).ref == "refs/heads/dev"
    no_commit = GitRef(branch="dev", tag="v1.0.0", semver="^1", name="refs/pull/1/head")
    assert resolve_ref(no_commit, REFS, {}, url=URL).ref == "refs/pull/1/head"
    semver = GitRef(branch="dev", tag="v1.0.0", semver="^1")
    assert resolve_ref(semver, REFS, {}, url=URL).ref == "refs/tags/v1.1.0"
    tag = GitRef(branch="dev", tag="v1.0.0")
    r = resolve_ref(tag, REFS, {}, url=URL)
    assert (r.ref, r.commit, r.tag_object) == ("refs/tags/v1.0.0", A, C)
    assert resolve_ref(GitRef(branch="dev"), REFS, {}, url=URL).commit == B


def test_default_is_remote_head_through_its_symref() -> None:
    r = resolve_ref(GitRef(), REFS, {"HEAD": "refs/heads/main"}, url=URL)
    assert (r.ref, r.commit) == ("refs/heads/main", A)


def test_lightweight_tag_has_no_tag_object() -> None:
    r = resolve_ref(GitRef(tag="2.0.0"), REFS, {}, url=URL)
    assert (r.commit, r.tag_object) == (B, None)


@pytest.mark.parametrize(
    "ref",
    [
        GitRef(branch="nope"),
        GitRef(tag="v9"),
        GitRef(semver=">=5"),
        GitRef(name="refs/pull/9/head"),
    ],
)
def test_unknown_refs(ref: GitRef) -> None:
    with pytest.raises(RefNotFoundError) as info:
        resolve_ref(ref, REFS, {}, url=URL)
    assert info.value.url == URL


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("^1", "v1.1.0"),
        ("~1.0", "v1.0.0"),
        ("1.x", "v1.1.0"),
        (">=1.0.0 <1.1.0", "v1.0.0"),
        (">=1.0.0, <1.1.0", "v1.0.0"),
        ("*", "2.0.0"),
        ("<1.1.0 || >=2", "2.0.0"),
        ("1.0.0 - 1.1.0", "v1.1.0"),
        ("!=1.1.0 ^1", "v1.0.0"),
        (">=1.1.0-rc.0 <1.1.0", "v1.1.0-rc.1"),
        ("=1.1.0-rc.1", "v1.1.0-rc.1"),
    ],
)
def test_semver_ranges(expr: str, expected: str) -> None:
    match = best_semver(REFS, expr)
    assert match is not None
    assert match.tag == expected


def test_prerelease_rule() -> None:
    refs = _tags("v1.2.0-rc.1", "v1.3.0-beta.2", "v1.1.0")
    assert best_semver(refs, ">=1.0.0").tag == "v1.1.0"  # type: ignore[union-attr]
    assert best_semver(refs, ">=1.2.0-rc.0").tag == "v1.2.0-rc.1"  # type: ignore[union-attr]
    # A pre-release on another major.minor.patch never matches.
    assert best_semver(_tags("v1.3.0-beta.2"), ">=1.2.0-rc.0") is None
    assert best_semver(_tags("v2.0.0-rc.1"), "^1") is None


def test_duplicate_versions_pick_a_stable_name() -> None:
    assert best_semver(_tags("v1.0.0", "1.0.0"), "1.0.0").tag == "1.0.0"  # type: ignore[union-attr]


@pytest.mark.parametrize("expr", ["", "banana", ">=1.0.0 ||", "~>", "!=1.x"])
def test_bad_ranges_are_configuration_errors(expr: str) -> None:
    with pytest.raises(ConfigurationError):
        GitRef(semver=expr)


versions = st.tuples(st.integers(0, 20), st.integers(0, 20), st.integers(0, 20))


@given(st.lists(versions, min_size=1, max_size=30, unique=True), versions)
def test_semver_picks_the_highest_matching(
    tags: list[tuple[int, int, int]], floor: tuple[int, int, int]
) -> None:
    refs = _tags(*(f"v{a}.{b}.{c}" for a, b, c in tags))
    expr = f">={floor[0]}.{floor[1]}.{floor[2]}"
    match = best_semver(refs, expr)
    candidates = [t for t in tags if t >= floor]
    if not candidates:
        assert match is None
    else:
        assert match is not None
        assert match.version == "{}.{}.{}".format(*max(candidates))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"branch": "-upload-pack=touch"},
        {"tag": "--foo"},
        {"commit": "-" + "a" * 39},
        {"name": "-refs/heads/x"},
        {"branch": "a..b"},
        {"branch": "a b"},
    ],
)
def test_refs_beginning_with_dash_or_invalid_are_refused(kwargs: dict[str, str]) -> None:
    with pytest.raises(SourceSecurityError):
        GitRef(**kwargs)


@pytest.mark.parametrize("commit", ["abc123", "A" * 40, "g" * 40])
def test_commit_must_be_a_full_sha(commit: str) -> None:
    with pytest.raises(ConfigurationError):
        GitRef(commit=commit)


@pytest.mark.parametrize(
    "url",
    [
        "ext::sh -c 'touch /tmp/x'",
        "fd::17",
        "-uhttps://example.com/r.git",
        "--upload-pack=touch /tmp/x",
        "file:///etc",
        "/srv/git/repo.git",
        "./repo",
        "ftp://example.com/r.git",
        "https://-oProxyCommand=x/r.git",
        "ssh://-oProxyCommand=touch/x",
        "https://example.com/r\n.git",
        "persistent-https::example.com/x",
    ],
)
def test_refused_urls(url: str) -> None:
    with pytest.raises(SourceSecurityError):
        parse_remote(url)


def test_file_urls_when_allowed(tmp_path: object) -> None:
    assert parse_remote("file:///srv/r.git", allow_file=True).scheme == "file"
    assert parse_remote("/srv/r.git", allow_file=True).url == "file:///srv/r.git"


def test_credentials_leave_the_url() -> None:
    r = parse_remote("https://bot:s3cr3t-value@example.com/r.git")
    assert r.url == "https://example.com/r.git"
    assert (r.username, r.password) == ("bot", "s3cr3t-value")
    src = GitSource("https://bot:s3cr3t-value@example.com/r.git", cache_dir="/tmp/x")
    assert "s3cr3t" not in src.url
    assert "s3cr3t" not in str(src.repo_path)


def test_redact_url() -> None:
    assert redact_url("https://u:p%40ss@h/r?x=1") == "https://u:***@h/r?***"
    assert redact_url("https://h/r") == "https://h/r"


def test_auth_reprs_hide_secrets() -> None:
    text = repr(HTTPSAuth(bearer_token="tok-xyz")) + repr(
        SSHAuth(private_key=b"KEYDATA", known_hosts="h t k", passphrase="pp-xyz")
    )
    for secret in ("tok-xyz", "KEYDATA", "pp-xyz"):
        assert secret not in text


def test_auth_validation() -> None:
    with pytest.raises(ConfigurationError):
        HTTPSAuth(username="u", password="p", bearer_token="t")
    with pytest.raises(ConfigurationError):
        HTTPSAuth(password="p")
    with pytest.raises(ConfigurationError):
        GitSource("ssh://git@example.com/r.git", cache_dir="/tmp/x")  # no known_hosts
    with pytest.raises(SourceSecurityError):
        GitSource("http://u:p@example.com/r.git", cache_dir="/tmp/x")


@pytest.mark.parametrize(
    ("text", "auth"),
    [
        ("unexpected http resp 401 for https://h/r.git", True),
        ("The requested URL returned error: 403", True),
        ("unexpected http status code: 401", True),
        ("HTTPSConnectionPool(host='127.0.0.1', port=34015): Read timed out.", False),
        ("connect to 127.0.0.1 port 40312 failed", False),
    ],
)
def test_auth_status_is_not_fooled_by_port_numbers(text: str, auth: bool) -> None:
    from reconcile.sources.git._cli import AUTH_STATUS

    assert bool(AUTH_STATUS.search(text.lower())) is auth
