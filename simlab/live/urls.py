"""Server URLs as people see them: a password never printed, never saved in a notebook's output.

Every place simlab shows a Redis or database URL (the doctor, the notebook banner, error
messages, logs) goes through :func:`redact`; every exception text shown goes through
:func:`scrub`, which also removes the password in the forms a driver may quote it in.
"""
from __future__ import annotations

import re
from urllib.parse import quote, unquote

HIDDEN = "***"


def _userinfo(text: str):
    """``(scheme://, user-info, rest)`` of a URL, the user-info being everything between
    ``://`` and the last ``@`` (so a password holding an unescaped ``/``, ``?``, ``#`` or ``@``
    stays inside it, where ``urlsplit`` would cut it); user-info None if there is no ``@``."""
    head, sep, tail = text.partition("://")
    if "@" not in tail:
        return head + sep, None, tail
    userinfo, _, rest = tail.rpartition("@")
    return head + sep, userinfo, rest


def _names_a_user(start: str) -> bool:
    """Whether a lone user-info (``scheme://word@host``, no colon) is a user name: for
    PostgreSQL it is; redis-py takes it as the password, and any other scheme (``model://``
    takes none at all) is hidden too, since showing a secret costs more than hiding a name."""
    return start.lower().startswith(("postgresql:", "postgres:"))


_QUERY_PASSWORD = re.compile(r"([?&]password=)([^&#]*)", re.IGNORECASE)
# A libpq ``keyword = value`` password, read as libpq reads it: a value in single quotes runs
# to the first unescaped quote (``\'`` and ``\\`` are escapes; an unclosed quote runs to the
# end), any other value to the first unescaped white space (``\ `` is an escaped space).
_LIBPQ_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\[\s\S])*(?:'|\\?\Z)"
                             r"|(?:[^\s\\]|\\[\s\S]|\\\Z)+)", re.IGNORECASE)


def _libpq_value(written: str) -> tuple[str, str]:
    """``(as written, as libpq reads it)`` of a matched password value: the first without
    its quotes, the second also with backslash escapes undone (``a\\ b`` is ``a b``)."""
    quoted = written.startswith("'")
    out, i = [], int(quoted)
    while i < len(written):
        char = written[i]
        if char == "\\":
            out.append(written[i + 1:i + 2])
            i += 2
            continue
        if quoted and char == "'":
            break
        out.append(char)
        i += 1
    return written[int(quoted):i], "".join(out)


def redact(url: str | None) -> str | None:
    """``url`` with its password replaced by ``***``; the user name, host, port and path stay.

    >>> redact("redis://:s3cret@localhost:6379/0")
    'redis://:***@localhost:6379/0'
    >>> redact("postgresql://alice:pw@db:5432/shop?sslmode=require")
    'postgresql://alice:***@db:5432/shop?sslmode=require'
    >>> redact("redis://:pa/ss#x?y@127.0.0.1:7/0")
    'redis://:***@127.0.0.1:7/0'
    >>> redact("model://s3cret@host")
    'model://***@host'
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
    start, userinfo, rest = _userinfo(text)
    # libpq and redis-py also read a password from the query string (?password=...)
    rest = _QUERY_PASSWORD.sub(lambda m: f"{m.group(1)}{HIDDEN}", rest)
    if userinfo is None:
        return start + rest
    user, colon, _password = userinfo.partition(":")
    if colon and not any(c in user for c in "/?#"):
        shown = f"{user}:{HIDDEN}"
    elif colon or (userinfo and not _names_a_user(start)):
        # redis://SECRET@host: redis-py takes a lone user-info as the password
        shown = HIDDEN
    else:
        shown = userinfo                       # postgresql://alice@host: a user, no secret
    return f"{start}{shown}@{rest}"


def userinfo_problem(url: str | None) -> str | None:
    """Why the user-info of ``url`` would be misread (a ``/``, ``?`` or ``#`` left
    unescaped in it: drivers then take part of the password for the host, and connect
    elsewhere), as one sentence without the password; None if it is fine."""
    if not url or "://" not in str(url):
        return None
    _, userinfo, _ = _userinfo(str(url))
    if userinfo is None or not any(c in userinfo for c in "/?#"):
        return None
    return (f"the user name or password in {redact(url)} holds an unescaped '/', '?' or '#', "
            "which a driver reads as the end of the host part (and then connects elsewhere): "
            "percent-encode them as %2F, %3F and %23")


def secrets_of(url: str | None) -> list:
    """The password in ``url`` (user-info, ``?password=`` or libpq ``password=``), as written
    and percent-decoded and -encoded (a libpq one also unescaped): every form it may take in a
    message."""
    if not url:
        return []
    text, found = str(url), []
    if "://" in text:
        start, userinfo, rest = _userinfo(text)
        if userinfo:
            user, colon, password = userinfo.partition(":")
            found.append(password if colon else
                         "" if _names_a_user(start) else userinfo)
        found += [m.group(2) for m in _QUERY_PASSWORD.finditer(rest)]
    else:
        for m in _LIBPQ_PASSWORD.finditer(text):       # as written, and as libpq reads it
            found += _libpq_value(m.group(2))
    forms = set()
    for secret in filter(None, found):
        forms |= {secret, unquote(secret), quote(unquote(secret), safe=""), quote(secret, safe="")}
    return sorted(filter(None, forms), key=len, reverse=True)


def scrub(text, url: str | None = None) -> str:
    """``text`` (an exception's message, a log line) safe to show: every URL in it redacted,
    and the password of ``url`` removed in every form (raw, percent-encoded, decoded), since
    drivers quote it in their own words (``invalid percent-encoded token: "p%zz..."``).

    A password shorter than 4 characters is removed only where it stands alone, so that a
    message stays readable.
    """
    text = "" if text is None else str(text)
    if url:
        text = text.replace(str(url), redact(url))
        for secret in secrets_of(url):
            if len(secret) >= 4:
                text = text.replace(secret, HIDDEN)
            else:
                text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])",
                              HIDDEN, text)
    return redact_text(text)


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


def unknown_option(exc: BaseException) -> str | None:
    """The sentence for a URL option redis-py does not take (``?sockettimeout=5``: redis-py
    passes each option on as a keyword argument and fails with a TypeError); None for any
    other error. Only the option's name is quoted, never its value."""
    found = re.search(r"unexpected keyword argument '([^']*)'", str(exc))
    if not isinstance(exc, TypeError) or found is None:
        return None
    return (f"the option {found.group(1)!r} (after '?') is not one redis-py takes; options "
            "are spelled as redis-py's keyword arguments, e.g. ?socket_timeout=5 or "
            "?health_check_interval=30")
