"""Requests to the API server: auth, impersonation, limits, timeouts, retries, errors.

Built on the aiohttp session and the configuration of a kubernetes-asyncio
``ApiClient`` (so every kubeconfig auth method it supports works), but with
explicit response handling: every status is read, 2xx bodies are parsed with
orjson, and anything else becomes a typed error of :mod:`reconcile.errors`.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode

import aiohttp
import anyio
import attrs
import orjson
import tenacity

from reconcile.cluster._errors import error_from_status
from reconcile.errors import ApplyError, ConflictError, RetryableError
from reconcile.objects import ObjectRef

__all__ = ["Impersonation", "Response", "RetryPolicy", "Transport"]

log = logging.getLogger(__name__)

# aiohttp must abort TLS transports itself where CPython leaks them (gh-118960).
_CLEANUP_CLOSED = bool(getattr(aiohttp.connector, "NEEDS_CLEANUP_CLOSED", False))


@attrs.frozen
class Impersonation:
    """Act as another user (``Impersonate-*`` headers; needs the ``impersonate`` verb).

    >>> Impersonation(service_account="shop/deployer").headers()
    [('Impersonate-User', 'system:serviceaccount:shop:deployer')]
    >>> Impersonation(user="jane", groups=("dev", "qa")).headers()
    [('Impersonate-User', 'jane'), ('Impersonate-Group', 'dev'), ('Impersonate-Group', 'qa')]
    """

    user: str | None = None
    groups: Sequence[str] = ()
    uid: str | None = None
    #: ``namespace/name`` of a service account (sets the user name).
    service_account: str | None = None
    extra: Mapping[str, Sequence[str]] = attrs.field(factory=dict)

    def headers(self) -> list[tuple[str, str]]:
        """The request headers."""
        user = self.user
        if self.service_account is not None:
            namespace, _, name = self.service_account.partition("/")
            user = f"system:serviceaccount:{namespace}:{name}"
        out: list[tuple[str, str]] = []
        if user:
            out.append(("Impersonate-User", user))
        out.extend(("Impersonate-Group", g) for g in self.groups)
        if self.uid:
            out.append(("Impersonate-Uid", self.uid))
        for key, values in self.extra.items():
            out.extend((f"Impersonate-Extra-{key}", v) for v in values)
        return out


@attrs.frozen
class RetryPolicy:
    """Retries of transient failures: exponential backoff with "equal jitter".

    The wait before try ``n + 1`` is uniformly drawn from ``[c/2, c]`` with
    ``c = min(max_delay, initial_delay * 2**(n-1))``: spread out, yet bounded
    below so that a batch rides out an API server restart. A ``Retry-After``
    from the server (429, 503) replaces it: the wait is ``r = min(Retry-After,
    max_retry_after)`` plus up to a fifth of ``r`` at random, never less than ``r``,
    so that requests the server turned away together do not all come back at
    the same instant. ``attempts`` counts the first try.

    Example:

        >>> policy = RetryPolicy(attempts=5, initial_delay=0.5, max_delay=4.0)
        >>> 1.0 <= policy.delay(3) <= 2.0, 1.0 <= policy.delay(1, retry_after=1.0) <= 1.2
        (True, True)
        >>> 30.0 <= policy.delay(1, retry_after=30.0) <= 36.0
        True
        >>> 60.0 <= policy.delay(1, retry_after=3600.0) <= 72.0  # max_retry_after
        True
    """

    attempts: int = 8
    initial_delay: float = 0.2
    max_delay: float = 10.0
    #: The longest ``Retry-After`` honoured as given (a longer one is cut to it).
    max_retry_after: float = 60.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """The wait before try ``attempt + 1`` (attempt counts from 1)."""
        if retry_after is not None:
            base = min(max(retry_after, 0.0), self.max_retry_after)
            return base + random.uniform(0, base / 5)  # noqa: S311 - jitter
        ceiling = min(self.max_delay, self.initial_delay * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not cryptography


@attrs.frozen
class Response:
    """A successful response: status, parsed JSON body, headers and the server's warnings."""

    status: int
    body: Any
    headers: Mapping[str, str]
    warnings: tuple[str, ...] = ()


_WARNING = re.compile(r'^\s*\d{3}\s+\S+\s+"((?:[^"\\]|\\.)*)"')


def warning_texts(values: Sequence[str]) -> tuple[str, ...]:
    """The texts of ``Warning`` headers (RFC 7234: ``299 - "text"``).

    >>> warning_texts(['299 - "policy/v1beta1 is deprecated"', "not a warning"])
    ('policy/v1beta1 is deprecated', 'not a warning')
    """
    out = []
    for value in values:
        match = _WARNING.match(value)
        out.append(re.sub(r"\\(.)", r"\1", match.group(1)) if match else value.strip())
    return tuple(out)


def _verb(method: str, path: str, query: Sequence[tuple[str, str]]) -> str:
    if method == "GET":
        if any(k == "watch" for k, _ in query):
            return "watch"
        return "get" if _names_object(path) else "list"
    return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(
        method, method.lower()
    )


def _names_object(path: str) -> bool:
    parts = path.strip("/").split("/")
    # /api/v1/<res>/<name>, /apis/g/v/<res>/<name>, with namespaces/<ns> in front.
    base = 2 if parts[0] == "api" else 3
    rest = parts[base:]
    if len(rest) >= 2 and rest[0] == "namespaces" and len(rest) != 2:
        rest = rest[2:]
    return len(rest) >= 2


def retry_after_of(err: BaseException) -> float | None:
    """The server's ``Retry-After`` carried by a RetryableError, if any."""
    if isinstance(err, ApplyError) and err.details:
        details = err.details.get("details")
        if isinstance(details, Mapping):
            value = details.get("retryAfterSeconds")
            if isinstance(value, int | float):
                return float(value)
    return None


class Transport:
    """Sends requests for an applier; counts them by verb in :attr:`requests`.

    Args:
        api_client: a kubernetes-asyncio ``ApiClient`` (owned by the caller).
        timeout: seconds for every request (connect, send, and the whole response).
        concurrency: requests in flight at most.
        retry: the retry policy for transient failures.
        impersonate: act as another user.

    Example:

        The applier creates and owns it::

            async with KubernetesApplier(field_manager="gitops") as applier:
                await applier.apply_all(objects)
                applier.transport.requests      # requests sent, by verb
    """

    def __init__(
        self,
        api_client: Any,
        *,
        timeout: float = 30.0,
        concurrency: int = 64,
        retry: RetryPolicy | None = None,
        impersonate: Impersonation | None = None,
    ) -> None:
        self.api_client = api_client
        self.configuration: Any = api_client.configuration
        self.host: str = str(self.configuration.host).rstrip("/")
        self.timeout = timeout
        self.retry: RetryPolicy = retry or RetryPolicy()
        self.impersonate = impersonate
        self.limiter: anyio.CapacityLimiter = anyio.CapacityLimiter(concurrency)
        #: Requests sent, by verb (``get``, ``list``, ``watch``, ``patch``, ...).
        self.requests: collections.Counter[str] = collections.Counter()
        #: Retries, by cause: the HTTP status (``"429"``, ``"503"``...),
        #: ``"connection"`` (dropped, refused, timed out) or ``"conflict"``.
        self.retries: collections.Counter[str] = collections.Counter()
        #: Seconds spent waiting before retries, in total.
        self.retry_wait: float = 0.0
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """An aiohttp session of its own, with the TLS settings of the ApiClient.

        Its own so that closing it can abort TLS connections a cancelled watch
        left half-closed (``abort_ssl``) instead of leaking them.
        """
        if self._session is None:
            base = self.api_client.rest_client.pool_manager.connector
            connector = aiohttp.TCPConnector(
                ssl=getattr(base, "_ssl", True), limit=0, enable_cleanup_closed=_CLEANUP_CLOSED
            )
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    async def aclose(self) -> None:
        """Close the connections (the ApiClient is the caller's to close)."""
        if self._session is not None:
            connector = self._session.connector
            if connector is not None:
                await connector.close(abort_ssl=True)
            await self._session.close()
            self._session = None

    async def _headers(self, content_type: str | None, accept: str) -> list[tuple[str, str]]:
        headers: list[tuple[str, str]] = [("Accept", accept)]
        if content_type:
            headers.append(("Content-Type", content_type))
        for setting in (await self.configuration.auth_settings()).values():
            if setting.get("in") == "header" and setting.get("value"):
                headers.append((str(setting["key"]), str(setting["value"])))
        if self.impersonate is not None:
            headers.extend(self.impersonate.headers())
        user_agent = getattr(self.api_client, "user_agent", None)
        if user_agent:
            headers.append(("User-Agent", f"reconcile {user_agent}"))
        return headers

    def _url(self, path: str, query: Sequence[tuple[str, str]]) -> str:
        return f"{self.host}{path}" + (f"?{urlencode(query)}" if query else "")

    async def request_once(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str]] = (),
        body: Any = None,
        content_type: str | None = None,
        accept: str = "application/json",
        ref: ObjectRef | None = None,
        resource: str = "",
        namespace: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - a per-request override
        verb: str | None = None,
    ) -> Response:
        """One request, no retries; raises the typed error of a failure."""
        verb = verb or _verb(method, path, query)
        data = orjson.dumps(body) if body is not None else None
        if data is not None and content_type is None:
            content_type = "application/json"
        headers = await self._headers(content_type, accept)
        limit = self.timeout if timeout is None else timeout
        async with self.limiter:
            self.requests[verb] += 1
            try:
                async with self.session.request(
                    method,
                    self._url(path, query),
                    data=data,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=limit),
                ) as resp:
                    raw = await resp.read()
                    status = resp.status
                    resp_headers = dict(resp.headers)
                    warnings = warning_texts(resp.headers.getall("Warning", ()))
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                kind = "timed out" if isinstance(exc, asyncio.TimeoutError) else "failed"
                raise RetryableError(
                    f"{verb} {resource or path} {kind}: {type(exc).__name__}: {exc}",
                    ref=ref,
                    status=None,
                    reason="ConnectionError",
                ) from exc
        try:
            parsed: Any = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            parsed = raw.decode(errors="replace")
        if 200 <= status < 300:
            for text in warnings:
                log.warning("%s %s: the server warns: %s", verb, ref or resource or path, text)
            return Response(status, parsed, resp_headers, warnings)
        retry_after: float | None = None
        if "Retry-After" in resp_headers:
            try:
                retry_after = float(resp_headers["Retry-After"])
            except ValueError:
                retry_after = None
        raise error_from_status(
            status,
            parsed,
            ref=ref,
            verb=verb,
            resource=resource or path,
            namespace=namespace,
            retry_after=retry_after,
        )

    async def request(self, method: str, path: str, **kwargs: Any) -> Response:
        """:meth:`request_once` with retries of :class:`RetryableError`."""
        response: Response = await self.retrying(lambda: self.request_once(method, path, **kwargs))
        return response

    async def retrying(
        self,
        operation: Callable[[], Any],
        *,
        on_conflict: bool = False,
    ) -> Any:
        """Run ``operation`` (an async callable) with the retry policy.

        ``on_conflict`` also retries optimistic-lock conflicts (a ConflictError
        without field-manager conflicts): the operation re-reads and re-diffs.
        """
        policy = self.retry

        def retryable(exc: BaseException | None) -> bool:
            if isinstance(exc, RetryableError):
                return True
            return on_conflict and isinstance(exc, ConflictError) and not exc.conflicts

        def pause(attempt: int, exc: BaseException | None) -> float:
            retry_after = retry_after_of(exc) if exc is not None else None
            delay = policy.delay(attempt, retry_after)
            status = getattr(exc, "status", None)
            if isinstance(exc, ConflictError):
                cause = "conflict"
            else:
                cause = str(status) if status else "connection"
            self.retries[cause] += 1
            self.retry_wait += delay
            log.debug(
                "retry %d in %.2f s (Retry-After %s) after %s", attempt, delay, retry_after, exc
            )
            return delay

        # The first try runs bare: retries are rare and tenacity is not free.
        try:
            return await operation()
        except ApplyError as exc:
            if not retryable(exc) or policy.attempts <= 1:
                raise
            first = exc
        await anyio.sleep(pause(1, first))

        def should_retry(state: tenacity.RetryCallState) -> bool:
            return retryable(state.outcome.exception() if state.outcome is not None else None)

        def wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome is not None else None
            return pause(state.attempt_number + 1, exc)

        retrying = tenacity.AsyncRetrying(
            retry=should_retry,
            wait=wait,
            stop=tenacity.stop_after_attempt(policy.attempts - 1),
            sleep=anyio.sleep,
            reraise=True,
        )

        async def call() -> Any:
            return await operation()

        return await retrying(call)

    @asynccontextmanager
    async def stream(
        self, path: str, query: Sequence[tuple[str, str]], *, read_timeout: float
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """A streaming GET (a watch): yields the open response for line reads.

        ``read_timeout`` bounds the silence between two reads.
        """
        headers = await self._headers(None, "application/json")
        self.requests["watch"] += 1
        timeout = aiohttp.ClientTimeout(
            total=None, connect=self.timeout, sock_connect=self.timeout, sock_read=read_timeout
        )
        try:
            async with self.session.get(
                self._url(path, query), headers=headers, timeout=timeout
            ) as resp:
                if resp.status != 200:
                    raw = await resp.read()
                    try:
                        parsed: Any = orjson.loads(raw) if raw else None
                    except orjson.JSONDecodeError:
                        parsed = raw.decode(errors="replace")
                    raise error_from_status(resp.status, parsed, verb="watch", resource=path)
                try:
                    yield resp
                finally:
                    # A watch never ends cleanly: drop its connection rather than pool it.
                    resp.close()
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise RetryableError(
                f"watch {path} failed: {type(exc).__name__}: {exc}", reason="ConnectionError"
            ) from exc
