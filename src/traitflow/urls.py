"""URLs as logs may show them: without what may be a credential."""

from __future__ import annotations

from yarl import URL


def redacted(url: str) -> str:
    """The URL without what may be a credential (user, password, query), for logs."""
    try:
        parsed = URL(url)
    except ValueError:
        return "<unparsable URL>"
    if not parsed.absolute:
        return "<not an absolute URL>"
    hidden = parsed.with_user(None).with_query(None).with_fragment(None)
    extra = "***@" if parsed.user or parsed.password else ""
    text = str(hidden)
    if extra and "://" in text:
        scheme, rest = text.split("://", 1)
        text = f"{scheme}://{extra}{rest}"
    return text + ("?***" if parsed.query_string else "")


def shown(location: str) -> str:
    """A local path as it is; a URL redacted."""
    return redacted(location) if "://" in location else location
