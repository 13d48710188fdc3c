"""How bytes on a connection become Socket.IO events and back: the websocket fast path,
its frame codec, the probe of the third-party internals it relies on, and the Socket.IO
event handlers.

May import: engineio, socketio, aiohttp, and from chatserver its config, metrics, errors,
auth, ratelog and the service the event handlers call. Nothing outside ``internals``
touches an underscored name of those libraries. Modules:

- ``socketio_events``: Socket.IO events to ChatService calls (both paths);
- ``gate``: what a client may open and send before and after signing in (both paths):
  limits per address and user, the connect timeout, binary refused, bad input closed;
- ``fast_path``: whether the fast path is on, and what it shares (one per app);
- ``internals``: every private third-party name used, and the start-up probe;
- ``endpoint``: the websocket engineio builds on the fast path;
- ``connection``: one session written by huddle (``DirectConnection``);
- ``detached``: a connection taken over from aiohttp after the handshake;
- ``frames``: the RFC 6455 frame codec;
- ``session_rooms``: python-socketio's rooms of each session, kept so a disconnect is O(1).
"""
