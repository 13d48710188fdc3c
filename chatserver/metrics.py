"""Prometheus metrics for ops (served at GET /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.connections = Gauge("huddle_connections", "Open Socket.IO connections", registry=r)
        self.rooms = Gauge("huddle_rooms", "Rooms with members on this worker", registry=r)
        self.messages_in = Counter("huddle_messages_in_total", "Messages accepted", registry=r)
        self.deliveries = Counter(
            "huddle_deliveries_total", "Events queued to sockets (per recipient)", registry=r
        )
        self.verdicts = Counter(
            "huddle_moderation_verdicts_total", "Non-allow verdicts by rule", ["rule"], registry=r
        )
        self.refusals = Counter("huddle_refusals_total", "Error acks by code", ["code"], registry=r)
        self.append_seconds = Histogram(
            "huddle_append_seconds",
            "Backend append latency",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5),
            registry=r,
        )
        self.fanout_seconds = Histogram(
            "huddle_fanout_seconds",
            "From a message's timestamp to its local fan-out on this worker",
            buckets=(0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
            registry=r,
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
