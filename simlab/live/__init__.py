"""The live layer: real or fake Redis (the whiteboard) and a real database (the filing room)."""
from .cache_aside import CacheAside, get_user, time_whiteboard_gets
from .client import (PREFIX, InstrumentedRedis, RedisUnavailable, UnsafeCommand, backend_banner,
                     cleanup, cleanup_course, connect, guarded_client, key,
                     namespace)
from .filing_room import FilingRoom, NotOwnedError, build_sqlite, filing_room, make_users
from .server import PrivateRedis, RedisServerNotFound, redis_server_binary, redis_server_version

__all__ = ["CacheAside", "get_user", "time_whiteboard_gets", "PREFIX", "InstrumentedRedis",
           "RedisUnavailable", "UnsafeCommand", "backend_banner", "cleanup", "connect", "key",
           "namespace", "guarded_client", "cleanup_course",
           "FilingRoom", "NotOwnedError", "build_sqlite", "filing_room", "make_users", "PrivateRedis",
           "RedisServerNotFound", "redis_server_binary", "redis_server_version"]
