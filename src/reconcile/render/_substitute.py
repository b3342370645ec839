"""Post-render variable substitution with Flux's semantics.

Flux's kustomize-controller serializes each object to YAML, replaces
``${VAR}`` expressions in the text, and parses the result again: a value
can therefore change type (``replicas: ${REPLICAS}`` becomes an integer, an
undefined variable alone becomes null). This module gets the same result
without the text round trip: it substitutes inside every string (keys too)
and resolves a substituted value as a plain YAML scalar again.

Supported expressions: ``${var}``, ``${var:-default}``, ``${var:=default}``,
``${var-default}``, ``${var=default}`` (defaults may nest expressions),
``${#var}``, ``${var^}``, ``${var^^}``, ``${var,}``, ``${var,,}``; ``$${`` is
a literal ``${``. Objects labelled or annotated
``kustomize.toolkit.fluxcd.io/substitute: disabled`` are left alone.

Example:

    >>> from reconcile.render import substitute_text
    >>> substitute_text("${APP}-${ENV:=dev}-$${KEEP}", {"APP": "web"})
    'web-dev-${KEEP}'
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

import orjson

from reconcile.errors import ConfigurationError, SubstitutionError
from reconcile.objects import Manifest
from reconcile.render._base import (
    DEFAULT_VALIDATION,
    ArtifactLike,
    Validation,
    finalize,
    render_key,
)
from reconcile.render._yaml import _SCALARS, MERGE, STR, _resolve_plain

__all__ = ["DISABLE_KEY", "Substitute", "substitute_text", "variables_from"]

#: The label or annotation that turns substitution off for one object.
DISABLE_KEY: Final = "kustomize.toolkit.fluxcd.io/substitute"
_NAME_RE: Final = re.compile(r"[_A-Za-z][_A-Za-z0-9]*\Z")


class _UndefinedError(Exception):
    def __init__(self, name: str) -> None:
        self.name = name


def _find_close(text: str, start: int) -> int:
    """Index of the ``}`` that closes the expression opened before ``start``."""
    depth = 1
    i = start
    while i < len(text):
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


_EXPR_RE: Final = re.compile(
    r"(?P<len>#)?(?P<name>[_A-Za-z][_A-Za-z0-9]*)"
    r"(?:(?P<op>:-|:=|-|=)(?P<default>.*)|(?P<case>\^\^|\^|,,|,))?\Z",
    re.DOTALL,
)


def _evaluate(expr: str, variables: Mapping[str, str], strict: bool) -> str:
    match = _EXPR_RE.match(expr)
    if match is None:
        raise ValueError(f"unsupported expression ${{{expr}}}")
    name = match["name"]
    value = variables.get(name)
    op = match["op"]
    if op is not None:
        if value is None or (op.startswith(":") and value == ""):
            return _substitute(match["default"], variables, strict)
        return value
    if value is None:
        if strict:
            raise _UndefinedError(name)
        value = ""
    if match["len"]:
        return str(len(value))
    case = match["case"]
    if case == "^":
        return value[:1].upper() + value[1:]
    if case == "^^":
        return value.upper()
    if case == ",":
        return value[:1].lower() + value[1:]
    if case == ",,":
        return value.lower()
    return value


def _substitute(text: str, variables: Mapping[str, str], strict: bool) -> str:
    if "$" not in text:
        return text
    out: list[str] = []
    i = 0
    while True:
        j = text.find("$", i)
        if j < 0:
            out.append(text[i:])
            break
        out.append(text[i:j])
        if text.startswith("$${", j):
            out.append("${")
            i = j + 3
        elif text.startswith("${", j):
            end = _find_close(text, j + 2)
            if end < 0:
                raise ValueError("unterminated ${ expression")
            out.append(_evaluate(text[j + 2 : end], variables, strict))
            i = end + 1
        else:
            out.append("$")
            i = j + 1
    return "".join(out)


def substitute_text(text: str, variables: Mapping[str, str], *, strict: bool = False) -> str:
    """Replace ``${...}`` expressions in ``text``.

    Raises:
        SubstitutionError: an undefined variable without a default in strict
            mode, or an expression this module does not support.

    Example:

        >>> substitute_text("host: ${HOST:=localhost}, env: ${ENV}", {"ENV": "prod"})
        'host: localhost, env: prod'
    """
    try:
        return _substitute(text, variables, strict)
    except _UndefinedError as exc:
        raise SubstitutionError(f"variable {exc.name!r} is not defined (strict mode)") from None
    except ValueError as exc:
        raise SubstitutionError(str(exc)) from None


def variables_from(obj: Mapping[str, Any]) -> dict[str, str]:
    """The variables a ConfigMap or Secret provides (Flux's ``substituteFrom``).

    Secret ``data`` is base64-decoded; ``stringData`` is taken as is; newlines
    are removed from values, as Flux does.

    >>> variables_from({"kind": "Secret", "data": {"PASS": "czNjcjN0"}})
    {'PASS': 's3cr3t'}
    """
    kind = obj.get("kind")
    result: dict[str, str] = {}
    if kind == "ConfigMap":
        for k, v in (obj.get("data") or {}).items():
            result[k] = str(v).replace("\n", "")
    elif kind == "Secret":
        for k, v in (obj.get("data") or {}).items():
            try:
                decoded = base64.b64decode(str(v), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError) as exc:
                raise ConfigurationError(f"Secret key {k!r} is not base64 UTF-8 text") from exc
            result[k] = decoded.replace("\n", "")
        for k, v in (obj.get("stringData") or {}).items():
            result[k] = str(v).replace("\n", "")
    else:
        raise ConfigurationError(f"variables come from a ConfigMap or a Secret, not {kind!r}")
    return result


def _disabled(obj: Mapping[str, Any]) -> bool:
    meta = obj.get("metadata") or {}
    for field in ("labels", "annotations"):
        values = meta.get(field) or {}
        if isinstance(values, dict) and values.get(DISABLE_KEY) == "disabled":
            return True
    return False


def _retype(text: str) -> Any:
    """What a plain YAML scalar with this text is: Flux re-parses substituted YAML."""
    if "\n" in text:
        return text
    tag = _resolve_plain(text)
    if tag in (STR, MERGE):
        return text
    try:
        return _SCALARS[tag](text)
    except ValueError:
        return text


def _walk(value: Any, variables: Mapping[str, str], strict: bool, path: str) -> Any:
    if isinstance(value, str):
        if "${" not in value:
            return value
        try:
            return _retype(_substitute(value, variables, strict))
        except _UndefinedError as exc:
            message = f"variable {exc.name!r} is not defined (strict mode)"
            raise _FailedError(message, path) from None
        except ValueError as exc:
            raise _FailedError(str(exc), path) from None
    if isinstance(value, dict):
        result = {}
        for k, v in value.items():
            key = k
            if isinstance(k, str) and "${" in k:
                key = str(_walk(k, variables, strict, path))
            result[key] = _walk(v, variables, strict, f"{path}.{k}" if path else str(k))
        return result
    if isinstance(value, list):
        return [_walk(v, variables, strict, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


class _FailedError(Exception):
    def __init__(self, message: str, path: str) -> None:
        self.message = message
        self.path = path


class Substitute:
    """A post-renderer replacing ``${VAR}`` expressions in every object.

    Args:
        variables: inline variables; they override ``sources``.
        sources: ConfigMap or Secret objects (dicts) whose data are variables,
            later ones overriding earlier ones.
        strict: an undefined variable without a default is an error.
        validation: the rules the substituted set is checked against again.

    Example:

        >>> s = Substitute({"REGION": "eu-west-1"},
        ...                sources=[{"kind": "ConfigMap", "data": {"CLUSTER": "blue"}}])
        >>> sorted(s.variables.items())
        [('CLUSTER', 'blue'), ('REGION', 'eu-west-1')]
    """

    def __init__(
        self,
        variables: Mapping[str, str],
        *,
        sources: Sequence[Mapping[str, Any]] = (),
        strict: bool = False,
        validation: Validation = DEFAULT_VALIDATION,
    ) -> None:
        merged: dict[str, str] = {}
        for source in sources:
            merged.update(variables_from(source))
        merged.update({k: str(v).replace("\n", "") for k, v in variables.items()})
        for name in merged:
            if not _NAME_RE.match(name):
                raise ConfigurationError(
                    f"variable name {name!r} is invalid, must match {_NAME_RE.pattern}"
                )
        self.variables = merged
        self.strict = strict
        self.validation = validation

    def cache_key(self) -> str:
        """Variables and mode (values hashed, so no secret is kept in the key)."""
        digest = orjson.dumps(sorted(self.variables.items()))
        return render_key(
            "substitute",
            variables=hashlib.sha256(digest).hexdigest(),
            strict=self.strict,
            validation=self.validation,
        )

    def apply(self, manifest: Manifest) -> Manifest:
        """Substitute one manifest; an unchanged manifest is returned as it is."""
        obj = manifest.obj
        if _disabled(obj) or b"${" not in orjson.dumps(obj):
            return manifest
        try:
            new = _walk(obj, self.variables, self.strict, "")
        except _FailedError as exc:
            raise SubstitutionError(
                exc.message, origin=manifest.origin, ref=manifest.ref, path=exc.path or None
            ) from None
        return Manifest(new, manifest.origin)

    async def transform(
        self, manifests: Sequence[Manifest], artifact: ArtifactLike
    ) -> tuple[Manifest, ...]:
        """Substitute every manifest, then validate the set again (names may change)."""
        result = [self.apply(m) for m in manifests]
        if all(new is old for new, old in zip(result, manifests, strict=True)):
            return tuple(manifests)
        return finalize(result, self.validation)
