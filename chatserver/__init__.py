"""huddle's I/O layer: the aiohttp app, Socket.IO transport, auth, backends, CLI."""
