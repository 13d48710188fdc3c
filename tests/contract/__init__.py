"""What every backend must answer (memory and a real redis-server),
and the Redis connection itself."""
