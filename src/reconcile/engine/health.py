"""Health of live objects, with the semantics of kstatus.

:func:`compute` reads one live object (a JSON mapping, or ``None`` when the
object does not exist) and returns a :class:`HealthResult`: a :class:`Status`,
a message for humans, and the kstatus-style conditions (``Reconciling`` for
InProgress, ``Stalled`` for Failed) that explain it.

The rules are those of kstatus (``sigs.k8s.io/cli-utils/pkg/kstatus/status``),
applied in this order:

1. no object: ``NotFound``;
2. ``metadata.deletionTimestamp`` set: ``Terminating``;
3. a check registered for the object's group and kind in :class:`HealthChecks`
   (user checks are Python callables and take precedence over what follows;
   returning ``None`` falls through to the built-in rules);
4. ``metadata.generation`` differs from ``status.observedGeneration`` (when the
   latter exists): ``InProgress``;
5. a ``Reconciling`` condition that is True: ``InProgress``; a ``Stalled``
   condition that is True: ``Failed``;
6. the built-in rules of the kind: Deployment, StatefulSet, DaemonSet,
   ReplicaSet, Pod, PersistentVolumeClaim, PodDisruptionBudget, Job, Service,
   CustomResourceDefinition (and ConfigMap, Secret and CronJob, always Current);
7. any other kind: a ``Ready`` condition decides (True: ``Current``, False or
   Unknown: ``InProgress``); without one the object is ``Current``.

Example:

    >>> from reconcile.engine.health import compute
    >>> deploy = {"apiVersion": "apps/v1", "kind": "Deployment",
    ...           "metadata": {"name": "web", "generation": 2},
    ...           "spec": {"replicas": 2},
    ...           "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2,
    ...                      "readyReplicas": 1, "availableReplicas": 1}}
    >>> result = compute(deploy)
    >>> result.status, result.message
    (<Status.IN_PROGRESS: 'InProgress'>, 'Available: 1/2')
    >>> compute(None).status
    <Status.NOT_FOUND: 'NotFound'>
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

import anyio
import attrs

from reconcile.errors import HealthError
from reconcile.objects import ObjectRef, split_api_version

__all__ = [
    "SCHEDULE_WINDOW",
    "Condition",
    "HealthCheck",
    "HealthChecks",
    "HealthResult",
    "Status",
    "compute",
    "wait_for_status",
]

_MAX_INT32 = 2**31 - 1

#: How long a Pod may stay unschedulable before it is ``Failed`` (kstatus: 15 s).
SCHEDULE_WINDOW = dt.timedelta(seconds=15)


class Status(enum.Enum):
    """The kstatus statuses.

    Example:

        >>> Status("InProgress") is Status.IN_PROGRESS
        True
    """

    #: The object is fully reconciled and its controller reports it ready.
    CURRENT = "Current"
    #: The object is being reconciled (rolled out, scheduled, installed...).
    IN_PROGRESS = "InProgress"
    #: Reconciliation failed and will not succeed without a change.
    FAILED = "Failed"
    #: The object has a deletion timestamp and is waiting for finalizers.
    TERMINATING = "Terminating"
    #: The object does not exist.
    NOT_FOUND = "NotFound"
    #: The status cannot be decided from what the object reports.
    UNKNOWN = "Unknown"


@attrs.frozen
class Condition:
    """A kstatus-style condition (``Reconciling`` or ``Stalled``) explaining a result.

    Example:

        >>> HealthResult.failed("ProgressDeadlineExceeded", "rollout stuck").conditions[0].type
        'Stalled'
    """

    type: str
    status: str
    reason: str
    message: str


@attrs.frozen
class HealthResult:
    """The health of one object: a status, a message for humans and conditions.

    >>> HealthResult.in_progress("LessReady", "Ready: 0/1").conditions
    (Condition(type='Reconciling', status='True', reason='LessReady', message='Ready: 0/1'),)
    """

    status: Status
    message: str
    conditions: tuple[Condition, ...] = ()

    @property
    def reason(self) -> str | None:
        """The reason of the first condition, when there is one."""
        return self.conditions[0].reason if self.conditions else None

    @classmethod
    def current(cls, message: str) -> HealthResult:
        """A ``Current`` result."""
        return cls(Status.CURRENT, message)

    @classmethod
    def in_progress(cls, reason: str, message: str) -> HealthResult:
        """An ``InProgress`` result with a ``Reconciling`` condition."""
        return cls(
            Status.IN_PROGRESS, message, (Condition("Reconciling", "True", reason, message),)
        )

    @classmethod
    def failed(cls, reason: str, message: str) -> HealthResult:
        """A ``Failed`` result with a ``Stalled`` condition."""
        return cls(Status.FAILED, message, (Condition("Stalled", "True", reason, message),))

    def __str__(self) -> str:
        reason = f" ({self.reason})" if self.reason else ""
        return f"{self.status.value}{reason}: {self.message}"


#: A user health check: given the live object, a result, or ``None`` to fall
#: through to the built-in rules.
HealthCheck = Callable[[Mapping[str, Any]], "HealthResult | None"]


class HealthChecks:
    """A registry of user health checks by API group and kind.

    >>> checks = HealthChecks()
    >>> @checks.register("example.com", "Widget")
    ... def widget(obj):
    ...     if obj.get("status", {}).get("phase") == "Ready":
    ...         return HealthResult.current("Widget is ready")
    ...     return HealthResult.in_progress("NotReady", "Widget is not ready")
    >>> compute({"apiVersion": "example.com/v1", "kind": "Widget",
    ...          "metadata": {"name": "w"}}, checks=checks).message
    'Widget is not ready'
    """

    def __init__(self) -> None:
        self._checks: dict[tuple[str, str], HealthCheck] = {}

    def register(self, group: str, kind: str) -> Callable[[HealthCheck], HealthCheck]:
        """A decorator that registers a check for ``group`` (``""`` for core) and ``kind``."""

        def decorator(check: HealthCheck) -> HealthCheck:
            self.add(group, kind, check)
            return check

        return decorator

    def add(self, group: str, kind: str, check: HealthCheck) -> None:
        """Register ``check`` for ``group`` and ``kind``, replacing an earlier one."""
        self._checks[(group, kind)] = check

    def get(self, group: str, kind: str) -> HealthCheck | None:
        """The check for ``group`` and ``kind``, if any."""
        return self._checks.get((group, kind))

    def __len__(self) -> int:
        return len(self._checks)


# -- field access, following kstatus: a field of the wrong type counts as absent.


def _field(obj: Mapping[str, Any], path: str) -> Any:
    value: Any = obj
    for part in path.split("."):
        # dict first: isinstance against the Mapping ABC costs several times more.
        if not (isinstance(value, (dict, Mapping))):
            return None
        value = value.get(part)
    return value


def _int(obj: Mapping[str, Any], path: str, default: int) -> int:
    value = _field(obj, path)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _str(obj: Mapping[str, Any], path: str, default: str) -> str:
    value = _field(obj, path)
    return value if isinstance(value, str) else default


def _bool(obj: Mapping[str, Any], path: str, default: bool) -> bool:
    value = _field(obj, path)
    return value if isinstance(value, bool) else default


def _conditions(obj: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    conditions = _field(obj, "status.conditions")
    if isinstance(conditions, list):
        for c in conditions:
            if isinstance(c, (dict, Mapping)):
                yield c


def _condition(obj: Mapping[str, Any], type_: str, status: str) -> Mapping[str, Any] | None:
    for c in _conditions(obj):
        if c.get("type") == type_ and c.get("status") == status:
            return c
    return None


def _text(c: Mapping[str, Any], key: str) -> str:
    value = c.get(key)
    return value if isinstance(value, str) else ""


# -- generic rules


def _generation(obj: Mapping[str, Any]) -> HealthResult | None:
    generation = _field(obj, "metadata.generation")
    observed = _field(obj, "status.observedGeneration")
    if not isinstance(generation, int) or not isinstance(observed, int):
        return None
    if observed != generation:
        kind = _str(obj, "kind", "")
        return HealthResult.in_progress(
            "LatestGenerationNotObserved",
            f"{kind} generation is {generation}, but latest observed generation is {observed}",
        )
    return None


def _reconciling_or_stalled(obj: Mapping[str, Any]) -> HealthResult | None:
    for c in _conditions(obj):
        if c.get("status") != "True":
            continue
        if c.get("type") == "Reconciling":
            return HealthResult.in_progress(_text(c, "reason"), _text(c, "message"))
        if c.get("type") == "Stalled":
            return HealthResult.failed(_text(c, "reason"), _text(c, "message"))
    return None


def _ready_condition(obj: Mapping[str, Any]) -> HealthResult | None:
    for c in _conditions(obj):
        if c.get("type") != "Ready":
            continue
        status = c.get("status")
        if status == "True":
            return HealthResult.current("Resource is Ready")
        if status in ("False", "Unknown"):
            return HealthResult.in_progress(_text(c, "reason"), _text(c, "message"))
    return None


# -- per-kind rules


def _always_current(obj: Mapping[str, Any], now: dt.datetime | None) -> HealthResult:
    return HealthResult.current("Resource is always ready")


def _deployment(obj: Mapping[str, Any], now: dt.datetime | None) -> HealthResult:
    # Without progressDeadlineSeconds (or with the "never" value) the controller
    # does not report progress, so the rollout counts as progressing.
    progressing = _int(obj, "spec.progressDeadlineSeconds", _MAX_INT32) == _MAX_INT32
    available = False
    for c in _conditions(obj):
        if c.get("type") == "Progressing":
            if c.get("reason") == "ProgressDeadlineExceeded":
                return HealthResult.failed("ProgressDeadlineExceeded", "Progress deadline exceeded")
            if c.get("status") == "True" and c.get("reason") == "NewReplicaSetAvailable":
                progressing = True
        elif c.get("type") == "Available" and c.get("status") == "True":
            available = True
    spec = _int(obj, "spec.replicas", 1)
    replicas = _int(obj, "status.replicas", 0)
    updated = _int(obj, "status.updatedReplicas", 0)
    ready = _int(obj, "status.readyReplicas", 0)
    avail = _int(obj, "status.availableReplicas", 0)
    if spec > replicas:
        return HealthResult.in_progress("LessReplicas", f"Replicas: {replicas}/{spec}")
    if spec > updated:
        return HealthResult.in_progress("LessUpdated", f"Updated: {updated}/{spec}")
    if replicas > spec:
        return HealthResult.in_progress("ExtraPods", f"Pending termination: {replicas - spec}")
    if updated > avail:
        return HealthResult.in_progress("LessAvailable", f"Available: {avail}/{updated}")
    if spec > ready:
        return HealthResult.in_progress("LessReady", f"Ready: {ready}/{spec}")
    if not progressing:
        return HealthResult.in_progress("ReplicaSetNotAvailable", "ReplicaSet not Available")
    if not available:
        return HealthResult.in_progress("DeploymentNotAvailable", "Deployment not Available")
    return HealthResult.current(f"Deployment is available. Replicas: {replicas}")


def _statefulset(obj: Mapping[str, Any], now: dt.datetime | None) -> HealthResult:
    if _str(obj, "spec.updateStrategy.type", "") == "OnDelete":
        return HealthResult.current("StatefulSet is using the ondelete update strategy")
    spec = _int(obj, "spec.replicas", 1)
    ready = _int(obj, "status.readyReplicas", 0)
    current = _int(obj, "status.currentReplicas", 0)
    updated = _int(obj, "status.updatedReplicas", 0)
    replicas = _int(obj, "status.replicas", 0)
    partition = _int(obj, "spec.updateStrategy.rollingUpdate.partition", -1)
    if spec > replicas:
        return HealthResult.in_progress("LessReplicas", f"Replicas: {replicas}/{spec}")
    if spec > ready:
        return HealthResult.in_progress("LessReady", f"Ready: {ready}/{spec}")
    if replicas > spec:
        return HealthResult.in_progress("ExtraPods", f"Pending termination: {replicas - spec}")
    if partition != -1:
        if updated < spec - partition:
            return HealthResult.in_progress(
                "PartitionRollout", f"updated: {updated}/{spec - partition}"
            )
        return HealthResult.current(f"Partition rollout complete. updated: {updated}")
    if spec > current:
        return HealthResult.in_progress("LessCurrent", f"current: {current}/{spec}")
    if _str(obj, "status.currentRevision", "") != _str(obj, "status.updateRevision", ""):
        return HealthResult.in_progress(
            "RevisionMismatch", "Waiting for updated revision to match current"
        )
    return HealthResult.current(f"All replicas scheduled as expected. Replicas: {replicas}")


def _daemonset(obj: Mapping[str, Any], now: dt.datetime | None) -> HealthResult:
    # The DaemonSet controller always sets these once it has seen the object.
    kind = _str(obj, "kind", "DaemonSet")
    if not isinstance(_field(obj, "metadata.generation"), int):
        return HealthResult.in_progress("NoGeneration", f"{kind} metadata.generation not found")
    if not isinstance(_field(obj, "status.observedGeneration"), int):
        return HealthResult.in_progress(
            "NoObservedGeneration", f"{kind} status.observedGeneration not found"
        )
    desired = _int(obj, "status.desiredNumberScheduled", -1)
    current = _int(obj, "status.currentNumberScheduled", 0)
    updated = _int(obj, "status.updatedNumberScheduled", 0)
    available = _int(obj, "status.numberAvailable", 0)
    ready = _int(obj, "status.numberReady", 0)
    if desired == -1:
        return HealthResult.in_progress("NoDesiredNumber", "Missing .status.desiredNumberScheduled")
    if desired > current:
        return HealthResult.in_progress("LessCurrent", f"Current: {current}/{desired}")
    if desired > updated:
        return HealthResult.in_progress("LessUpdated", f"Updated: {updated}/{desired}")
    if desired > available:
        return HealthResult.in_progress("LessAvailable", f"Available: {available}/{desired}")
    if desired > ready:
        return HealthResult.in_progress("LessReady", f"Ready: {ready}/{desired}")
    return HealthResult.current(f"All replicas scheduled as expected. Replicas: {desired}")


def _replicaset(obj: Mapping[str, Any], now: dt.datetime | None) -> HealthResult:
    if _condition(obj, "ReplicaFailure", "True") is not None:
        return HealthResult.in_progress("ReplicaFailure", "Replica Failure condition. Check Pods")
    spec = _int(obj, "spec.replicas", 1)
    replicas = _int(obj, "status.replicas", 0)
    ready = _int(obj, "status.readyReplicas", 0)
    available = _int(obj, "status.availableReplicas", 0)
    labelled = _int(obj, "status.fullyLabeledReplicas", 0)
    if spec > labelled:
        return HealthResult.in_progress("LessLabelled", f"Labelled: {labelled}/{spec}")
    if spec > available:
        return HealthResult.in_progress("LessAvailable", f"Available: {available}/{spec}")
    if spec > ready:
        return HealthResult.in_progress("LessReady", f"Ready: {ready}/{spec}")
    if replicas > spec:
        return HealthResult.in_progress("ExtraPods", f"Pending termination: {replicas - spec}")
    return HealthResult.current(f"ReplicaSet is available. Replicas: {replicas}")


def _parse_time(value: str) -> dt.datetime | None:
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def _pod(obj: Mapping[str, Any], now: dt.datetime | None) -> HealthResult:
    phase = _str(obj, "status.phase", "")
    if phase == "Succeeded":
        return HealthResult.current("Pod has completed successfully")
    if phase == "Failed":
        # kstatus: a finished Pod is Current, whatever its exit code.
        return HealthResult.current("Pod has completed, but not successfully")
    if phase == "Running":
        if _condition(obj, "Ready", "True") is not None:
            return HealthResult.current("Pod is Ready")
        looping = [
            str(cs.get("name"))
            for cs in _field(obj, "status.containerStatuses") or ()
            if isinstance(cs, Mapping)
            and "name" in cs
            and _field(cs, "state.waiting.reason") == "CrashLoopBackOff"
        ]
        if looping:
            return HealthResult.failed(
                "ContainerCrashLooping", f"Containers in CrashLoop state: {','.join(looping)}"
            )
        return HealthResult.in_progress("PodRunningNotReady", "Pod is running but is not Ready")
    if phase == "Pending":
        unscheduled = _condition(obj, "PodScheduled", "False")
        if unscheduled is not None and unscheduled.get("reason") == "Unschedulable":
            created = _parse_time(_str(obj, "metadata.creationTimestamp", ""))
            if now is None:
                now = dt.datetime.now(dt.UTC)
            if created is not None and now - SCHEDULE_WINDOW < created:
                return HealthResult.in_progress("PodNotScheduled", "Pod has not been scheduled")
            return HealthResult.failed("PodUnschedulable", "Pod could not be scheduled")
        return HealthResult.in_progress("PodPending", "Pod is in the Pending phase")
    if phase == "":
        return HealthResult.in_progress("PodNotObserved", "Pod phase not available")
    return HealthResult(Status.UNKNOWN, f"Pod has an unknown phase {phase!r}")


def _pvc(obj: Mapping[str, Any], now: dt.datetime | None) -> HealthResult:
    phase = _str(obj, "status.phase", "unknown")
    if phase != "Bound":
        return HealthResult.in_progress("NotBound", f"PVC is not Bound. phase: {phase}")
    return HealthResult.current("PVC is Bound")


def _pdb(obj: Mapping[str, Any], now: dt.datetime | None) -> HealthResult:
    # observedGeneration (checked before) tells that the disruption controller
    # computed the allowed disruptions; it sets no condition on failure.
    return HealthResult.current("AllowedDisruptions has been computed.")


def _job(obj: Mapping[str, Any], now: dt.datetime | None) -> HealthResult:
    parallelism = _int(obj, "spec.parallelism", 1)
    completions = _int(obj, "spec.completions", parallelism)
    succeeded = _int(obj, "status.succeeded", 0)
    active = _int(obj, "status.active", 0)
    failed = _int(obj, "status.failed", 0)
    for c in _conditions(obj):
        if c.get("status") != "True":
            continue
        if c.get("type") == "Complete":
            return HealthResult.current(f"Job Completed. succeeded: {succeeded}/{completions}")
        if c.get("type") == "Failed":
            return HealthResult.failed("JobFailed", f"Job Failed. failed: {failed}/{completions}")
        if c.get("type") == "Suspended" and _bool(obj, "spec.suspend", False):
            return HealthResult.current("Job is suspended")
    if _str(obj, "status.startTime", "") == "":
        return HealthResult.in_progress("JobNotStarted", "Job not started")
    return HealthResult.current(
        f"Job in progress. success:{succeeded}, active: {active}, failed: {failed}"
    )


def _service(obj: Mapping[str, Any], now: dt.datetime | None) -> HealthResult:
    if _str(obj, "spec.type", "ClusterIP") == "LoadBalancer" and not _str(
        obj, "spec.clusterIP", ""
    ):
        return HealthResult.in_progress(
            "NoIPAssigned", "ClusterIP not set. Service type: LoadBalancer"
        )
    return HealthResult.current("Service is ready")


def _crd(obj: Mapping[str, Any], now: dt.datetime | None) -> HealthResult:
    for c in _conditions(obj):
        if c.get("type") == "NamesAccepted" and c.get("status") == "False":
            return HealthResult.failed(_text(c, "reason"), _text(c, "message"))
        if c.get("type") == "Established":
            if c.get("status") == "False" and c.get("reason") != "Installing":
                return HealthResult.failed(_text(c, "reason"), _text(c, "message"))
            if c.get("status") == "True":
                return HealthResult.current("CRD is established")
    return HealthResult.in_progress("Installing", "Install in progress")


_Rule = Callable[[Mapping[str, Any], dt.datetime | None], HealthResult]

_BUILTIN: dict[tuple[str, str], _Rule] = {
    ("", "Service"): _service,
    ("", "Pod"): _pod,
    ("", "Secret"): _always_current,
    ("", "ConfigMap"): _always_current,
    ("", "PersistentVolumeClaim"): _pvc,
    ("apps", "StatefulSet"): _statefulset,
    ("apps", "DaemonSet"): _daemonset,
    ("extensions", "DaemonSet"): _daemonset,
    ("apps", "Deployment"): _deployment,
    ("extensions", "Deployment"): _deployment,
    ("apps", "ReplicaSet"): _replicaset,
    ("extensions", "ReplicaSet"): _replicaset,
    ("policy", "PodDisruptionBudget"): _pdb,
    ("batch", "CronJob"): _always_current,
    ("batch", "Job"): _job,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): _crd,
}


def compute(
    obj: Mapping[str, Any] | None,
    *,
    checks: HealthChecks | None = None,
    now: dt.datetime | None = None,
) -> HealthResult:
    """The health of the live object ``obj`` (``None``: it does not exist).

    ``checks`` holds user checks by group and kind; ``now`` (UTC) is the time
    the Pod scheduling window is measured against, the current time by default.

    Raises:
        HealthError: a user check raised; the error names the object and
            chains the original exception.

    Example:

        >>> deploy = {"apiVersion": "apps/v1", "kind": "Deployment",
        ...           "metadata": {"name": "web", "generation": 2},
        ...           "spec": {"replicas": 2},
        ...           "status": {"observedGeneration": 1}}
        >>> result = compute(deploy)
        >>> result.status, result.reason
        (<Status.IN_PROGRESS: 'InProgress'>, 'LatestGenerationNotObserved')
        >>> compute(None).status
        <Status.NOT_FOUND: 'NotFound'>
    """
    if obj is None:
        return HealthResult(Status.NOT_FOUND, "Resource not found")
    if _field(obj, "metadata.deletionTimestamp"):
        return HealthResult(Status.TERMINATING, "Resource scheduled for deletion")
    group = split_api_version(_str(obj, "apiVersion", ""))[0]
    kind = _str(obj, "kind", "")
    check = checks.get(group, kind) if checks is not None else None
    if check is not None:
        try:
            result = check(obj)
        except Exception as exc:
            raise HealthError(
                f"the health check {getattr(check, '__qualname__', check)!r} raised {exc!r}",
                ref=ObjectRef.from_object(obj),
            ) from exc
        if result is not None:
            return result
    generic = _generation(obj) or _reconciling_or_stalled(obj)
    if generic is not None:
        return generic
    rule = _BUILTIN.get((group, kind))
    if rule is not None:
        return rule(obj, now)
    return _ready_condition(obj) or HealthResult.current("Resource is current")


async def wait_for_status(
    read: Callable[[], Awaitable[Mapping[str, Any] | None]],
    ref: ObjectRef,
    *,
    timeout: float,  # noqa: ASYNC109 - the error must name the object that timed out
    want: Status = Status.CURRENT,
    interval: float = 0.5,
    checks: HealthChecks | None = None,
) -> HealthResult:
    """Poll ``read()`` until the object's health is ``want``; return that result.

    ``read`` returns the live object or ``None`` when it does not exist (a watch-fed
    cache is the cheap way). With ``want`` ``CURRENT``, a ``Failed`` result ends
    the wait at once.

    Raises:
        HealthError: the object is Failed, or not ``want`` after ``timeout``
            seconds; the message names the object, its last status and reason.

    >>> async def gone():
    ...     return None
    >>> ref = ObjectRef("v1", "ConfigMap", "cfg", "shop")
    >>> anyio.run(lambda: wait_for_status(gone, ref, timeout=1, want=Status.NOT_FOUND))
    HealthResult(status=<Status.NOT_FOUND: 'NotFound'>, message='Resource not found', conditions=())
    >>> anyio.run(lambda: wait_for_status(gone, ref, timeout=0.2, interval=0.1))
    Traceback (most recent call last):
    ...
    reconcile.errors.HealthError: ConfigMap shop/cfg: not Current after 0.2 s: NotFound: ...
    """
    last: HealthResult | None = None
    with anyio.move_on_after(timeout):
        while True:
            last = compute(await read(), checks=checks)
            if last.status is want:
                return last
            if want is Status.CURRENT and last.status is Status.FAILED:
                raise HealthError(f"{last}", ref=ref)
            await anyio.sleep(interval)
    raise HealthError(f"not {want.value} after {timeout:g} s: {last}", ref=ref)
