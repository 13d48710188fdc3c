"""Pure code: rooms/, moderation/, codecs, settings, parsers.

No sockets, no processes."""
