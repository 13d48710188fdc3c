"""huddle's I/O layer: everything that touches a socket, a clock, Redis or the disk.

    transport/      bytes on a connection <-> Socket.IO events (fast path, frames, probe)
    service/        the flows: joining, posting, controls, connections, alerts, delivery
    backend.py      the narrow interfaces the flows use (RoomLog, RoomBus, Presence, ...)
    memory_backend  the embedded backend (one process), in memory
    sqlite_backend/ the embedded default: the memory backend's rooms kept in a SQLite file
    redis_backend/  the Redis backend (many workers), with lua/, resp.py, redis_pipe.py
                    and redis_cluster.py (a Redis Cluster: the slot map, a pipe per master)
    app.py, cli.py  the aiohttp app and the command line; config, auth, schema, metrics

May import rooms/ and moderation/ (pure, below it). Within it the direction is downwards:
app -> transport -> service -> backend interfaces <- backends; a backend imports neither
the service nor the transport, and the service never imports the transport or a backend
implementation (tests/test_layering.py checks it). docs/design.md follows one message
through these layers.
"""
