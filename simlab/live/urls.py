"""Server URLs as people see them: a password never printed, never saved in a notebook's output.

Every place simlab shows a Redis or database URL (the doctor, the notebook banner, error
messages, logs) goes through :func:`redact`.
"""
from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

HIDDEN = "***"


def redact(url: str | None) -> str | None:
    """``url`` with its password replaced by ``***``; the user name, host, port and path stay.

    >>> redact("redis://:s3cret@localhost:6379/0")
    'redis://:***@localhost:6379/0'
    >>> redact("postgresql://alice:pw@db:5432/shop?sslmode=require")
    'postgresql://alice:***@db:5432/shop?sslmode=require'
    >>> redact("redis://localhost:6379/0")
    'redis://localhost:6379/0'
    >>> redact("host=db user=alice password='s3 cret' dbname=shop")
    'host=db user=alice password=*** dbname=shop'
    """
    if url is None:
        return None
    text = str(url)
    if "://" not in text:
        # a libpq key=value string: host=db user=alice password='s3 cret' dbname=shop
        return _LIBPQ_PASSWORD.sub(lambda m: f"{m.group(1)}{HIDDEN}", text)
    try:
        parts = urlsplit(text)
    except ValueError:
        return "<a URL that could not be parsed>"
    if "@" not in parts.netloc:
        # libpq and redis-py also read a password from the query string (?password=...)
        return _redact_query(parts, text)
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, colon, _password = userinfo.partition(":")
    if colon:
        netloc = f"{user}:{HIDDEN}@{hostport}"
    elif user and parts.scheme.startswith("redis"):
        # redis://SECRET@host: redis-py takes a lone user-info as the password
        netloc = f"{HIDDEN}@{hostport}"
    else:
        netloc = parts.netloc
    return _redact_query(parts._replace(netloc=netloc), None)


_LIBPQ_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def _redact_query(parts, original):
    if not parts.query or "password" not in parts.query.lower():
        return original if original is not None else urlunsplit(parts)
    fields = []
    for field in parts.query.split("&"):
        name, eq, _value = field.partition("=")
        fields.append(f"{name}={HIDDEN}" if eq and name.lower() == "password" else field)
    return urlunsplit(parts._replace(query="&".join(fields)))


_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>()]+")


def redact_text(text: str | None) -> str | None:
    """``text`` with every URL in it redacted (for lines and messages that embed a URL).

    >>> redact_text("Redis 7.0.15 at rediss://bob:pw@cache:6380/0")
    'Redis 7.0.15 at rediss://bob:***@cache:6380/0'
    """
    if text is None:
        return None
    text = _URL_IN_TEXT.sub(lambda m: redact(m.group(0)), str(text))
    return _LIBPQ_PASSWORD.sub(lambda m: f"{m.group(1)}{HIDDEN}", text)
