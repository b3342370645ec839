"""Load Kubernetes YAML fast, strictly, and with the line of every document.

Parsing and composition run in C (ruamel.yaml's libyaml-derived ``CParser``
when it is installed, its pure-Python parser otherwise); scalar resolution and
construction are a small Python layer tuned for Kubernetes manifests:

* scalars resolve as ``kubectl`` resolves them (sigs.k8s.io/yaml, go-yaml v2,
  YAML 1.1): ``yes``/``no``/``on``/``off``/``y``/``n`` are booleans, ``0755``
  is octal, timestamps stay strings, a bare ``=`` is the string ``"="``, and
  keys are strings (``y: 1`` becomes ``{"true": 1}``, as kubectl sends it);
* duplicate mapping keys are errors naming both lines;
* merge keys (``<<``) are honoured;
* aliases are expanded (copied), within a budget, so a billion-laughs
  document fails fast instead of eating memory;
* nesting depth and file size are bounded; bytes must be UTF-8 (or UTF-16/32
  with a byte-order mark).

Example:

    >>> from reconcile.render import load_yaml
    >>> docs = load_yaml(b"a: yes\\nb: 0755\\n---\\nc: [=, 2026-01-01]\\n", "x.yaml")
    >>> [(d.value, d.line) for d in docs]
    [({'a': True, 'b': 493}, 1), ({'c': ['=', '2026-01-01']}, 4)]
"""

from __future__ import annotations

import base64
import binascii
import codecs
import copy
import json
import math
import operator
import re
import threading
from collections.abc import Callable
from typing import Any, Final, TypeVar

import attrs
import orjson
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.tag import Tag

from reconcile.errors import ManifestSyntaxError, RenderError, RenderSecurityError
from reconcile.objects import Origin

try:  # ruamel.yaml[libyaml]: the C reader, scanner, parser and composer.
    from ruamel.yaml.cyaml import CParser as _CParser  # type: ignore[attr-defined]

    HAVE_C_PARSER: bool = True
except ImportError:  # pragma: no cover - exercised only without the C extension
    _CParser = None
    HAVE_C_PARSER = False

try:  # yaml-rs: a Rust YAML 1.2 loader, used where it agrees with ours (see _fast_load).
    import yaml_rs as _yaml_rs
except ImportError:  # pragma: no cover - exercised only without yaml-rs
    _yaml_rs = None  # type: ignore[assignment]

#: Whether the fast path (yaml-rs) is available.
HAVE_YAML_RS: Final = _yaml_rs is not None

__all__ = ["HAVE_C_PARSER", "LoadedDocument", "YamlLimits", "load_yaml"]

_R = TypeVar("_R")

_T: Final = "tag:yaml.org,2002:"
STR: Final = _T + "str"
INT: Final = _T + "int"
FLOAT: Final = _T + "float"
BOOL: Final = _T + "bool"
NULL: Final = _T + "null"
MERGE: Final = _T + "merge"
MAP: Final = _T + "map"
SEQ: Final = _T + "seq"
BINARY: Final = _T + "binary"
TIMESTAMP: Final = _T + "timestamp"

_TRUE: Final = frozenset(["y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"])
_FALSE: Final = frozenset(
    ["n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"]
)
_NULL: Final = frozenset(["", "~", "null", "Null", "NULL"])
_INF: Final = frozenset([".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"])
_NINF: Final = frozenset(["-.inf", "-.Inf", "-.INF"])
_NAN: Final = frozenset([".nan", ".NaN", ".NAN"])
# Characters a non-string plain scalar can start with; anything else is a string.
_SPECIAL_START: Final = frozenset("0123456789+-.~<nNyYtTfFoO")
_INT_RE: Final = re.compile(
    r"[-+]?(?:0b[01_]+|0x[0-9a-fA-F_]+|0o[0-7_]+|0[0-7_]+|0|[1-9][0-9_]*)\Z"
)
_FLOAT_RE: Final = re.compile(
    r"[-+]?(?:[0-9][0-9_]*)?\.[0-9_]*(?:[eE][-+]?[0-9]+)?\Z"
    r"|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+\Z"
)


@attrs.frozen(slots=True)
class YamlLimits:
    """Bounds that keep hostile input from exhausting memory or stack.

    Attributes:
        max_file_bytes: a larger file is refused before parsing.
        max_alias_nodes: how many nodes aliases may add to one document by
            expansion (a billion-laughs document needs billions).
        max_depth: the deepest nesting of mappings and sequences.

    Example:

        >>> from reconcile.errors import RenderError
        >>> try:
        ...     load_yaml("a: [[[[1]]]]", "deep.yaml", limits=YamlLimits(max_depth=3))
        ... except RenderError as err:
        ...     print(err)
        deep.yaml:1:6 (document 0): nesting deeper than 3 levels
    """

    max_file_bytes: int = 64 * 1024 * 1024
    max_alias_nodes: int = 100_000
    max_depth: int = 256


DEFAULT_LIMITS: Final = YamlLimits()


@attrs.frozen(slots=True)
class LoadedDocument:
    """One document of a stream: its value and where it starts (1-based line).

    Example:

        >>> doc = load_yaml("kind: ConfigMap\\n", "cm.yaml")[0]
        >>> doc.value, doc.index, doc.line
        ({'kind': 'ConfigMap'}, 0, 1)
    """

    value: Any
    index: int
    line: int
    column: int


def _resolve_plain(value: str) -> str:
    if not value:
        return NULL
    if value[0] not in _SPECIAL_START:
        return STR
    if value in _TRUE or value in _FALSE:
        return BOOL
    if value in _NULL:
        return NULL
    if _INT_RE.match(value):
        return INT
    if _FLOAT_RE.match(value) or value in _INF or value in _NINF or value in _NAN:
        # A lone "." or "-." is not a number.
        return FLOAT if any(c.isdigit() or c in "iInN" for c in value) else STR
    if value == "<<":
        return MERGE
    return STR


def _tag(suffix: str) -> Tag:
    tag = Tag(suffix=suffix)
    str(tag)  # computes and caches the URI-decoded form once
    return tag


# Shared tag objects: nodes keep them as they are, and construction compares
# them by identity instead of decoding a tag string per node.
_TAGS: Final[dict[str, Tag]] = {
    name: _tag(name) for name in (STR, INT, FLOAT, BOOL, NULL, MERGE, MAP, SEQ)
}
T_STR: Final = _TAGS[STR]
T_MAP: Final = _TAGS[MAP]
T_SEQ: Final = _TAGS[SEQ]
T_MERGE: Final = _TAGS[MERGE]


class _Resolver:
    """The resolver hooks the C composer calls back into, once per node."""

    def resolve(self, kind: type[Node], value: str, implicit: tuple[bool, bool]) -> Tag:
        if kind is ScalarNode:
            if not implicit[0] or (value and value[0] not in _SPECIAL_START):
                return T_STR  # quoted, or plain and cannot be anything but a string
            return _TAGS[_resolve_plain(value)]
        return T_MAP if kind is MappingNode else T_SEQ

    # Path-dependent resolution is not used: C-implemented no-ops, which are
    # not bound as methods, spare a Python call per node.
    descend_resolver = operator.is_
    ascend_resolver = tuple


if _CParser is not None:

    class _Composer(_CParser, _Resolver):  # type: ignore[misc]
        """libyaml parsing and composition with our resolver."""


class _PureComposer:
    """ruamel.yaml's pure-Python reader, scanner, parser and composer, our resolver."""

    def __init__(self, stream: str) -> None:
        from ruamel.yaml import YAML
        from ruamel.yaml.resolver import VersionedResolver

        class Resolver(VersionedResolver):
            def resolve(self, kind: Any, value: Any, implicit: Any) -> Tag:
                return _Resolver.resolve(self, kind, value, implicit)  # type: ignore[arg-type]

        yaml = YAML(typ="safe", pure=True)
        yaml.Resolver = Resolver
        self._nodes = iter(yaml.compose_all(stream))
        self._next: Any = None
        self._done = False

    def check_node(self) -> bool:
        if self._next is None and not self._done:
            try:
                self._next = next(self._nodes)
            except StopIteration:
                self._done = True
        return self._next is not None

    def get_node(self) -> Any:
        node, self._next = self._next, None
        return node


def _syntax_error(err: YAMLError, file: str, document: int) -> ManifestSyntaxError:
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    problem = getattr(err, "problem", None) or str(err)
    context = getattr(err, "context", None)
    message = f"{context}: {problem}" if context else str(problem)
    line = mark.line + 1 if mark is not None else None
    column = mark.column + 1 if mark is not None else None
    return ManifestSyntaxError(
        f"invalid YAML: {message}",
        origin=Origin(file, document=document, line=line, column=column),
    )


def decode(data: bytes, file: str, limits: YamlLimits = DEFAULT_LIMITS) -> bytes | str:
    """Check size and encoding; return UTF-8 bytes as they are, or decoded text."""
    if len(data) > limits.max_file_bytes:
        raise RenderSecurityError(
            f"file is {len(data)} bytes, over the limit of {limits.max_file_bytes}",
            origin=Origin(file),
        )
    for bom, codec in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError as exc:
                raise ManifestSyntaxError(
                    f"invalid {codec.upper()}: {exc.reason}", origin=Origin(file)
                ) from exc
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        document = len(re.findall(rb"(?m)^---", data[: exc.start]))
        raise ManifestSyntaxError(
            f"not UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start} ({exc.reason})",
            origin=Origin(file, document=document, line=line, column=column),
        ) from exc
    return data[3:] if data.startswith(codecs.BOM_UTF8) else data


# The C composer recurses once per level, using a few hundred bytes of C stack
# each: it crashed at 30,000 levels on an 8 MiB stack, and threads may have far
# smaller stacks (128 KiB on musl). Input that might nest deeper than
# _C_SAFE_DEPTH is composed in a thread with a stack of its own, big enough for
# _BIG_STACK_DEPTH levels; input that might nest deeper still is checked event
# by event first.
_C_SAFE_DEPTH: Final = 500
_BIG_STACK_DEPTH: Final = 50_000
_BIG_STACK_BYTES: Final = 64 * 1024 * 1024
_stack_size_lock = threading.Lock()


def _nesting_bound(data: bytes | str) -> int:
    """A cheap upper bound of the nesting depth (flow brackets plus line width)."""
    if isinstance(data, str):
        flow = data.count("[") + data.count("{")
        width = max(map(len, data.splitlines()), default=0)
    else:
        flow = data.count(b"[") + data.count(b"{")
        width = max(map(len, data.splitlines()), default=0)
    # Block nesting needs more indentation, or an indicator such as "- " on the
    # same line, every level or two: twice the line width is a safe bound.
    return flow + 2 * width


def _check_depth(data: bytes | str, file: str, limits: YamlLimits) -> None:
    """Refuse nesting deeper than the limit, event by event (no recursion)."""
    from ruamel.yaml.events import (
        CollectionEndEvent,
        DocumentStartEvent,
        MappingStartEvent,
        SequenceStartEvent,
    )

    parser = _Composer(data)
    depth = 0
    document = -1
    try:
        while parser.check_event():
            event = parser.get_event()
            if isinstance(event, DocumentStartEvent):
                document += 1
            elif isinstance(event, MappingStartEvent | SequenceStartEvent):
                depth += 1
                if depth > limits.max_depth:
                    mark = event.start_mark
                    raise ManifestSyntaxError(
                        f"nesting deeper than {limits.max_depth} levels",
                        origin=Origin(file, document, mark.line + 1, mark.column + 1),
                    )
            elif isinstance(event, CollectionEndEvent):
                depth -= 1
    except YAMLError as exc:
        raise _syntax_error(exc, file, max(document, 0)) from None
    finally:
        parser.dispose()


_PENDING: Final = object()


class _Constructor:
    """Turns composed nodes into JSON-compatible values."""

    __slots__ = ("alias_budget", "count", "depth", "document", "file", "limits")

    def __init__(self, file: str, document: int, limits: YamlLimits) -> None:
        self.file = file
        self.document = document
        self.limits = limits
        self.alias_budget = limits.max_alias_nodes
        self.count = 0
        self.depth = 0

    def error(
        self, message: str, node: Node, cls: type[RenderError] = ManifestSyntaxError
    ) -> RenderError:
        mark = node.start_mark
        return cls(
            message,
            origin=Origin(self.file, self.document, mark.line + 1, mark.column + 1),
        )

    def construct(self, node: Node) -> Any:
        """Construct the value of any node.

        A node met twice is an alias. The node's (otherwise unused) ``anchor``
        slot remembers it: pending while its children are built, then the
        value and its size, so an alias is copied within the budget.
        """
        if node.__class__ is ScalarNode:
            return node.value if node.ctag is T_STR else self.scalar(node)
        seen = node.anchor  # the pure-Python composer stores anchor names (str) here
        if seen is not None and seen.__class__ is not str:
            if seen is _PENDING:
                raise self.error("recursive alias", node)
            value, size = seen
            self.alias_budget -= size
            self.count += size
            if self.alias_budget < 0:
                raise self.error(
                    "aliases expand to more than "
                    f"{self.limits.max_alias_nodes} nodes (a billion-laughs document?)",
                    node,
                    RenderSecurityError,
                )
            return copy.deepcopy(value)
        self.depth += 1
        if self.depth > self.limits.max_depth:
            raise self.error(f"nesting deeper than {self.limits.max_depth} levels", node)
        node.anchor = _PENDING
        before = self.count
        ctag = node.ctag
        if node.__class__ is MappingNode:
            if ctag is not T_MAP and str(ctag) != MAP:
                raise self.error(f"unsupported tag {str(ctag)!r} on a mapping", node)
            value = self.mapping(node)
        else:
            if ctag is not T_SEQ and str(ctag) != SEQ:
                raise self.error(f"unsupported tag {str(ctag)!r} on a sequence", node)
            construct = self.construct
            value = [
                child.value
                if child.__class__ is ScalarNode and child.ctag is T_STR
                else construct(child)
                for child in node.value
            ]
        self.depth -= 1
        # Nodes in the subtree (entries at every level, aliases as expanded):
        # what a copy of it costs.
        self.count += len(node.value) + 1
        node.anchor = (value, self.count - before)
        return value

    def mapping(self, node: MappingNode) -> dict[str, Any]:
        result: dict[Any, Any] = {}
        merged: list[dict[Any, Any]] | None = None
        construct = self.construct
        for key_node, value_node in node.value:
            if key_node.__class__ is ScalarNode:
                ctag = key_node.ctag
                if ctag is T_STR:
                    key = key_node.value
                elif ctag is T_MERGE:
                    merged = (merged or []) + self.merge_sources(value_node)
                    continue
                else:
                    key = _json_key(self.scalar(key_node))
            else:
                raise self.error("a mapping key must be a scalar", key_node)
            if key in result:
                raise self.error(f"duplicate key {key!r}{self.first(node, key)}", key_node)
            if value_node.__class__ is ScalarNode and value_node.ctag is T_STR:
                result[key] = value_node.value  # the common case, without a call
            else:
                result[key] = construct(value_node)
        if merged:
            base: dict[Any, Any] = {}
            for source in merged:
                for k, v in source.items():
                    base.setdefault(k, copy.deepcopy(v))
            base.update(result)
            result = base
        return result

    def first(self, node: MappingNode, key: Any) -> str:
        for key_node, _ in node.value:
            if key_node.__class__ is ScalarNode and (
                key_node.value == key or _json_key(self.scalar(key_node)) == key
            ):
                return f" (first at line {key_node.start_mark.line + 1})"
        return ""  # pragma: no cover

    def merge_sources(self, node: Node) -> list[dict[Any, Any]]:
        if isinstance(node, MappingNode):
            return [self.construct(node)]
        if isinstance(node, SequenceNode):
            sources = []
            for child in node.value:
                if not isinstance(child, MappingNode):
                    raise self.error("a merge key takes mappings only", child)
                sources.append(self.construct(child))
            return sources
        raise self.error("a merge key takes a mapping or a list of mappings", node)

    def scalar(self, node: ScalarNode) -> Any:
        tag = str(node.ctag)
        value: str = node.value
        if tag == STR:
            return value
        construct = _SCALARS.get(tag)
        if construct is None:
            raise self.error(f"unsupported tag {tag!r}", node)
        try:
            return construct(value)
        except ValueError as exc:
            raise self.error(f"{value!r} is not a valid {tag.rsplit(':', 1)[-1]}", node) from exc


def _json_key(key: Any) -> str:
    """A mapping key as JSON needs it: sigs.k8s.io/yaml turns ``y: 1`` into ``"true": 1``."""
    if isinstance(key, str):
        return key
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, float):
        if math.isinf(key):
            return "+Inf" if key > 0 else "-Inf"
        if math.isnan(key):
            return "NaN"
        return repr(key).removesuffix(".0") if key.is_integer() and abs(key) < 1e21 else repr(key)
    return str(key)


def _int(value: str) -> int:
    text = value.replace("_", "")
    sign = -1 if text.startswith("-") else 1
    text = text.lstrip("+-")
    if text.startswith("0b"):
        return sign * int(text[2:], 2)
    if text.startswith("0x"):
        return sign * int(text[2:], 16)
    if text.startswith("0o"):
        return sign * int(text[2:], 8)
    if len(text) > 1 and text.startswith("0"):
        return sign * int(text, 8)
    return sign * int(text)


def _float(value: str) -> float:
    if value in _INF:
        return math.inf
    if value in _NINF:
        return -math.inf
    if value in _NAN:
        return math.nan
    return float(value.replace("_", ""))


def _bool(value: str) -> bool:
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(value)


def _null(value: str) -> None:
    if value not in _NULL:
        raise ValueError(value)


def _binary(value: str) -> str:
    # Kubernetes carries binary data as base64 text: keep it as such, validated.
    text = "".join(value.split())
    try:
        base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError(value) from exc
    return text


_SCALARS: Final[dict[str, Callable[[str], Any]]] = {
    INT: _int,
    FLOAT: _float,
    BOOL: _bool,
    NULL: _null,
    BINARY: _binary,
    TIMESTAMP: str,
    MERGE: str,
    "tag:yaml.org,2002:value": str,
}


def load_yaml(
    data: bytes | str,
    file: str,
    *,
    limits: YamlLimits = DEFAULT_LIMITS,
    pure: bool = False,
) -> list[LoadedDocument]:
    """Parse a (multi-document) YAML stream into JSON-compatible values.

    Empty documents (only comments, or ``---`` with nothing after) are
    dropped, but still counted in ``index``. ``pure`` forces ruamel.yaml's
    pure-Python parser (for comparison; the C parser is used when installed).

    Raises:
        ManifestSyntaxError: the bytes are not valid UTF-8 or not valid YAML,
            a key is duplicated, a tag is unsupported, nesting is too deep.
        RenderSecurityError: the file is over the size limit, or aliases expand
            beyond the alias budget.

    Example:

        >>> [d.value["kind"] for d in load_yaml("kind: A\\n---\\nkind: B\\n", "two.yaml")]
        ['A', 'B']
    """
    text = decode(data.encode("utf-8") if isinstance(data, str) else data, file, limits)
    if not pure and isinstance(text, bytes):
        fast = _fast_load(text, limits)
        if fast is not None:
            return fast
    return _reference_load(text, file, limits, pure=pure)


def _reference_load(
    text: bytes | str, file: str, limits: YamlLimits, *, pure: bool = False
) -> list[LoadedDocument]:
    """The reference loader: libyaml composes, our constructor resolves as kubectl does."""
    try:
        if _CParser is None or pure:
            return _load(text, file, limits, pure=True)
        bound = _nesting_bound(text)
        if bound <= _C_SAFE_DEPTH:
            return _load(text, file, limits, pure=False)
        if bound > _BIG_STACK_DEPTH:
            _check_depth(text, file, limits)
        return _on_a_big_stack(_load, text, file, limits, pure=False)
    except ManifestSyntaxError:
        # JSON that is not YAML (tabs for indentation, as kubectl's JSON path
        # accepts): read it as JSON, or report the YAML error.
        documents = _json_stream(text, file, limits)
        if documents is None:
            raise
        return documents


# The fast path. yaml-rs (Rust) loads YAML 1.2 about ten times faster than
# composing nodes in Python; kubectl reads YAML 1.1. The two agree on a
# document unless it holds one of the things below, so a stream that may hold
# one is left to the reference loader above, as is any stream yaml-rs refuses
# (the reference loader then reports the error with file, line and column):
# * plain scalars that are booleans only in YAML 1.1 (yes, no, on, off, y, n):
#   found as whole strings in the JSON of the result (quoted ones too);
# * integers read differently (0755 is octal, 0b101 binary, -0x1f signed):
#   found in the text, as a zero that starts a scalar and is not alone;
# * keys that are not strings (1:, true:, null:): orjson refuses them;
# * merge keys, complex keys (``?``), tags, anchors (so aliases), directives
#   and ``...``: found in the text;
# * nesting deeper than 254 levels (orjson's limit) or very deep indentation;
# * tabs and other control characters, YAML 1.1's extra line breaks (NEL, LS,
#   PS), byte-order marks, and
#   documents that are not mappings (not Kubernetes objects).
# Python's re scans fastest for a literal: each check looks for one, then
# looks at the few places found.
_FAST_TEXT_RISK: Final = tuple(re.compile(re.escape(s)) for s in (b"<<", b"\n%", b"\n..."))
_FAST_NODE_START: Final = tuple(
    re.compile(p) for p in (rb"!", rb"&", rb"\?(?![^ \r\n])", rb"0[0-9a-zA-Z_]")
)
# Bytes of printable ASCII text; the rest is checked character by character.
_PRINTABLE_ASCII: Final = bytes([*range(0x20, 0x7F), 0x0A, 0x0D])
# Characters libyaml refuses (not printable) or reads as line breaks (NEL, LS,
# PS: YAML 1.1 only), and a byte-order mark inside a stream.
_FAST_CHAR_RISK: Final = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]")
_FAST_DEEP_LINE: Final = re.compile(rb"\n[ \t-]{128}")
_DOCUMENT_START: Final = re.compile(rb"\n---")
_BLANK_OR_COMMENT: Final = re.compile(rb"(?:[ \t\r]*(?:#[^\n]*)?(?:\n|\Z))*[ \t\r]*")
_FAST_JSON_RISK: Final = re.compile(rb'"(?:[yYnN]|[Yy]es|YES|[Nn]o|NO|[Oo]n|ON|[Oo]ff|OFF)"')
_FAST_OPTIONS: Final[dict[str, Any]] = (
    {"parse_datetime": False, "duplicate_key_policy": _yaml_rs.DuplicateKeyPolicy.Error}
    if _yaml_rs is not None
    else {}
)


def _starts_node(data: bytes, position: int) -> bool:
    """Whether a node (so a tag, an anchor or a number) may start at ``position``.

    On its line, only indentation and indicators (``-``, ``:``, ``?``, ``[``,
    ``{``, ``,``) may precede it, and a sign may precede a number. At the start
    of a line, it is the value of the line above when that line ends with an
    indicator, or a key when its own line holds one: else it is the next line
    of a plain scalar (``!= 'x'`` or ``&& y`` in a CEL rule).
    """
    if data[position : position + 1] == b"0" and data[position - 1 : position] in (b"-", b"+"):
        position -= 1
    if data[position - 1 : position] not in (b"", b" ", b"\t", b"\n", b"[", b"{", b","):
        return False
    start = data.rfind(b"\n", 0, position) + 1
    prefix = data[start:position].rstrip(b" \t")
    if prefix:
        return prefix.endswith((b":", b"-", b"[", b"{", b",", b"?"))
    end = data.find(b"\n", position)
    rest = data[position : len(data) if end < 0 else end]
    if b": " in rest or rest.rstrip().endswith(b":") or start == 0:
        return True
    while start > 0:  # the line above, past blank and comment lines
        above = data.rfind(b"\n", 0, start - 1) + 1
        text = data[above : start - 1].strip()
        start = above
        if text and not text.startswith(b"#"):
            text = text.partition(b" #")[0].rstrip()
            return text.endswith((b":", b"-", b"[", b"{", b",", b"?"))
    return True


def _document_starts(data: bytes) -> list[int]:
    """Offsets of the ``---`` lines that start documents."""
    starts = [0] if data.startswith(b"---") else []
    starts += [m.start() + 1 for m in _DOCUMENT_START.finditer(data)]
    return [s for s in starts if data[s + 3 : s + 4] in (b"", b" ", b"\t", b"\r", b"\n")]


def _fast_load(data: bytes, limits: YamlLimits) -> list[LoadedDocument] | None:
    """The documents exactly as the reference loader reads them, or None to use it."""
    if (
        _yaml_rs is None
        or limits.max_depth < 256
        or any(risk.search(data) for risk in _FAST_TEXT_RISK)
        or _FAST_DEEP_LINE.search(data) is not None
        or data.startswith((b"%", b"..."))
        or _FAST_CHAR_RISK.search(data.translate(None, _PRINTABLE_ASCII).decode()) is not None
    ):
        return None
    for candidates in _FAST_NODE_START:
        for found in candidates.finditer(data):
            if _starts_node(data, found.start()):
                return None
    markers = _document_starts(data)
    chunks = [(begin, True) for begin in markers]
    if not markers or markers[0] != 0:
        chunks.insert(0, (0, False))
    documents: list[LoadedDocument] = []
    index, line, counted = 0, 1, 0
    loads = _yaml_rs.loads
    for i, (begin, marked) in enumerate(chunks):
        end = chunks[i + 1][0] if i + 1 < len(chunks) else len(data)
        content = _BLANK_OR_COMMENT.match(data, begin + 3 if marked else begin, end)
        position = content.end() if content is not None else begin
        if not marked and position >= end:
            continue  # blank lines or comments before the first marker: no document
        try:
            value = loads(data[begin:end].decode("utf-8"), **_FAST_OPTIONS)
        except (KeyboardInterrupt, SystemExit):  # pragma: no cover
            raise
        except BaseException:  # a refusal, or a Rust panic (a BaseException)
            return None  # the reference loader decides, and reports any error
        if value is not None:
            if value.__class__ is not dict:
                return None  # Kubernetes objects only: scalars and lists are the reference's
            line += data.count(b"\n", counted, position)
            counted = position
            column = position - (data.rfind(b"\n", 0, position) + 1) + 1
            documents.append(LoadedDocument(value, index, line, column))
        index += 1
    try:
        encoded = orjson.dumps([d.value for d in documents])
    except orjson.JSONEncodeError:
        return None  # a key that is not a string, or nesting beyond orjson's limit
    if _FAST_JSON_RISK.search(encoded) is not None:
        return None
    return documents


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError(key)
        result[key] = value
    return result


def _json_stream(text: bytes | str, file: str, limits: YamlLimits) -> list[LoadedDocument] | None:
    """Concatenated JSON values, or None when the text does not look like JSON."""
    string = text.decode("utf-8") if isinstance(text, bytes) else text
    start = len(string) - len(string.lstrip())
    if not string[start:].startswith(("{", "[")):
        return None
    decoder = json.JSONDecoder(object_pairs_hook=_no_duplicates)
    documents: list[LoadedDocument] = []
    position = start
    while position < len(string):
        line = string.count("\n", 0, position) + 1
        column = position - (string.rfind("\n", 0, position) + 1) + 1
        try:
            value, end = decoder.raw_decode(string, position)
        except _DuplicateKeyError as exc:
            raise ManifestSyntaxError(
                f"duplicate key {exc.key!r}",
                origin=Origin(file, len(documents), line, column),
            ) from None
        except (json.JSONDecodeError, RecursionError):
            return None  # not JSON either: the YAML error stands
        if _json_depth(value) > limits.max_depth:
            raise ManifestSyntaxError(
                f"nesting deeper than {limits.max_depth} levels",
                origin=Origin(file, len(documents), line, column),
            )
        documents.append(LoadedDocument(value, len(documents), line, column))
        rest = string[end:]
        position = end + len(rest) - len(rest.lstrip())
    return documents


def _json_depth(value: Any) -> int:
    depth, level = 0, [value]
    while level:
        depth += 1
        level = [
            child
            for item in level
            if isinstance(item, dict | list)
            for child in (item.values() if isinstance(item, dict) else item)
            if isinstance(child, dict | list)
        ]
    return depth


def _on_a_big_stack(fn: Callable[..., _R], *args: Any, **kwargs: Any) -> _R:
    """Run ``fn`` in a thread whose C stack holds the composer's recursion."""
    result: list[_R] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            result.append(fn(*args, **kwargs))
        except BaseException as exc:  # re-raised in the caller
            error.append(exc)

    with _stack_size_lock:
        previous = threading.stack_size(_BIG_STACK_BYTES)
        try:
            thread = threading.Thread(target=run, name="reconcile-yaml")
            thread.start()
        finally:
            threading.stack_size(previous)
    thread.join()
    if error:
        raise error[0]
    return result[0]


def _load(text: bytes | str, file: str, limits: YamlLimits, *, pure: bool) -> list[LoadedDocument]:
    documents: list[LoadedDocument] = []
    index = 0
    composer: Any
    if not pure:
        composer = _Composer(text)
    else:
        composer = _PureComposer(text if isinstance(text, str) else text.decode("utf-8"))
    try:
        while composer.check_node():
            node = composer.get_node()
            if node is not None:
                value = _Constructor(file, index, limits).construct(node)
                if value is not None:
                    mark = node.start_mark
                    documents.append(LoadedDocument(value, index, mark.line + 1, mark.column + 1))
            index += 1
    except MarkedYAMLError as exc:
        raise _syntax_error(exc, file, index) from None
    except YAMLError as exc:
        raise _syntax_error(exc, file, index) from None
    except RecursionError:
        raise ManifestSyntaxError("nesting too deep", origin=Origin(file, document=index)) from None
    finally:
        dispose = getattr(composer, "dispose", None)
        if dispose is not None:
            dispose()
    return documents
