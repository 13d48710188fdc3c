"""Prometheus metrics for ops (served at GET /metrics).

The few counted on every message and every delivery (``HotCounter``, ``HotHistogram``)
are plain numbers read when /metrics is scraped: prometheus_client's own take a lock on
every update, a visible share of a busy worker's CPU per delivery. A worker's event
loop is one thread, so nothing else updates them meanwhile.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    HistogramMetricFamily,
    Metric,
)


class HotCounter:
    """A counter updated by the event loop only (no lock), exported as ``name_total``."""

    __slots__ = ("doc", "name", "value")

    def __init__(self, name: str, doc: str) -> None:
        self.name = name
        self.doc = doc
        self.value = 0.0

    def inc(self, amount: float = 1) -> None:
        self.value += amount

    def metric(self) -> Metric:
        return CounterMetricFamily(self.name, self.doc, value=self.value)


class HotHistogram:
    """A histogram updated by the event loop only (no lock), with the same buckets,
    ``_bucket``, ``_count`` and ``_sum`` as prometheus_client's."""

    __slots__ = ("_bounds", "_counts", "_sum", "doc", "name")

    def __init__(self, name: str, doc: str, buckets: Sequence[float]) -> None:
        self.name = name
        self.doc = doc
        self._bounds = sorted(float(b) for b in buckets)
        self._counts = [0] * (len(self._bounds) + 1)  # the last: above every bound
        self._sum = 0.0

    def observe(self, value: float) -> None:
        # Prometheus buckets count values <= their bound: bisect_left finds that bucket.
        self._counts[bisect.bisect_left(self._bounds, value)] += 1
        self._sum += value

    def metric(self) -> Metric:
        cumulative, total = [], 0
        for bound, count in zip([*self._bounds, float("inf")], self._counts, strict=True):
            total += count
            label = "+Inf" if bound == float("inf") else str(bound)
            cumulative.append((label, total))
        return HistogramMetricFamily(self.name, self.doc, buckets=cumulative, sum_value=self._sum)


class _HotMetrics:
    """The registry's view of the hot metrics, read at scrape time."""

    def __init__(self, metrics: Sequence[HotCounter | HotHistogram]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        for metric in self._metrics:
            yield metric.metric()


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.connections = Gauge("huddle_connections", "Open Socket.IO connections", registry=r)
        self.rooms = Gauge("huddle_rooms", "Rooms with members on this worker", registry=r)
        self.messages_in = HotCounter("huddle_messages_in", "Messages accepted")
        self.deliveries = HotCounter(
            "huddle_deliveries", "Events queued to sockets (per recipient)"
        )
        self.verdicts = Counter(
            "huddle_moderation_verdicts_total", "Non-allow verdicts by rule", ["rule"], registry=r
        )
        self.refusals = Counter("huddle_refusals_total", "Error acks by code", ["code"], registry=r)
        self.append_seconds = HotHistogram(
            "huddle_append_seconds",
            "Backend append latency",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5),
        )
        self.fanout_seconds = HotHistogram(
            "huddle_fanout_seconds",
            "From a message's timestamp to its local fan-out on this worker",
            buckets=(0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
        )
        r.register(
            _HotMetrics(
                [self.messages_in, self.deliveries, self.append_seconds, self.fanout_seconds]
            )
        )
        self.gap_repairs = Gauge(
            "huddle_gap_repairs", "Gaps in pub/sub repaired from the log since start", registry=r
        )
        self.recoveries = Counter(
            "huddle_recoveries_total", "Joins with since, by result", ["recovered"], registry=r
        )
        self.slow_consumers = Counter(
            "huddle_slow_consumers_total", "Connections dropped for a full send queue", registry=r
        )
        self.shed = Counter(
            "huddle_shed_total", "Messages refused because the worker was overloaded", registry=r
        )
        self.ws_fast_path = Gauge(
            "huddle_ws_fast_path",
            "1 when websockets take huddle's fast path, 0 on engineio's own (with versions)",
            ["aiohttp", "engineio", "socketio"],
            registry=r,
        )
        self.backend_errors = Counter(
            "huddle_backend_errors_total", "Requests that failed on the backend", registry=r
        )
