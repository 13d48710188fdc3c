"""A real app on a port with real Socket.IO clients (one worker, or
two sharing a private redis-server), and the command line."""
