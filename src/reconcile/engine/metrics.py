"""Prometheus metrics for reconcilers (the ``metrics`` extra: ``prometheus-client``).

:class:`PrometheusMetrics` is a result callback: pass it in a reconciler's
``callbacks``. It records, labelled by reconciler name:

- ``reconcile_duration_seconds`` (histogram, label ``phase``: fetch, render,
  plan, apply, health, prune, total);
- ``reconcile_drifted_objects`` (gauge): objects found drifted by the last pass;
- ``reconcile_failures_total`` (counter): failed passes;
- ``reconcile_ready`` (gauge): 1 when the last pass was Ready.

Example:

    >>> from prometheus_client import CollectorRegistry
    >>> from reconcile.engine.metrics import PrometheusMetrics
    >>> from reconcile.engine.results import SyncResult, condition
    >>> registry = CollectorRegistry()
    >>> metrics = PrometheusMetrics(registry=registry)
    >>> metrics(SyncResult("shop", "r1", (condition("Ready", True, "Ok", ""),),
    ...                    durations={"total": 0.5}))
    >>> registry.get_sample_value("reconcile_ready", {"reconciler": "shop"})
    1.0
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reconcile.engine.results import SyncResult
from reconcile.errors import ConfigurationError

if TYPE_CHECKING:
    from prometheus_client import Counter, Gauge, Histogram

__all__ = ["PrometheusMetrics"]


class PrometheusMetrics:
    """Records each :class:`SyncResult` in Prometheus metrics.

    Args:
        registry: a ``prometheus_client.CollectorRegistry`` (the default registry when None).

    Example:

        >>> from prometheus_client import CollectorRegistry
        >>> from reconcile.engine.results import SyncResult, condition
        >>> registry = CollectorRegistry()
        >>> metrics = PrometheusMetrics(registry=registry)
        >>> metrics(SyncResult("shop", "r1", (condition("Ready", False, "Failed", "x"),)))
        >>> registry.get_sample_value("reconcile_ready", {"reconciler": "shop"})
        0.0
    """

    def __init__(self, *, registry: Any = None) -> None:
        try:
            import prometheus_client as prom
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ConfigurationError(
                "metrics need the extra: pip install 'reconcile[metrics]'"
            ) from exc
        kwargs: dict[str, Any] = {"registry": registry} if registry is not None else {}
        self.duration: Histogram = prom.Histogram(
            "reconcile_duration_seconds",
            "Time spent in each phase of a pass",
            ["reconciler", "phase"],
            **kwargs,
        )
        self.drifted: Gauge = prom.Gauge(
            "reconcile_drifted_objects", "Objects found drifted", ["reconciler"], **kwargs
        )
        self.failures: Counter = prom.Counter(
            "reconcile_failures", "Failed passes", ["reconciler"], **kwargs
        )
        self.ready: Gauge = prom.Gauge(
            "reconcile_ready", "1 when the last pass was Ready", ["reconciler"], **kwargs
        )

    def __call__(self, result: SyncResult) -> None:
        """Record one result."""
        for phase, seconds in result.durations.items():
            self.duration.labels(result.name, phase).observe(seconds)
        self.drifted.labels(result.name).set(len(result.drift))
        if result.failed or result.stalled:
            self.failures.labels(result.name).inc()
        self.ready.labels(result.name).set(1 if result.ready else 0)
