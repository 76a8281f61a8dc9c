"""Standard columns and their rules (Braze's set, see REFERENCE.md); others are custom traits.

Each rule returns the normalised value or raises ``ValueError`` with what was expected.
"""

from __future__ import annotations

import difflib
import functools
import re
import zoneinfo
from collections.abc import Callable
from datetime import date

import pycountry
from email_validator import EmailNotValidError, validate_email

GENDERS = {"M", "F", "O", "N", "P"}
SUBSCRIPTIONS = {"opted_in", "unsubscribed", "subscribed"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _country(value: str) -> str:
    if pycountry.countries.get(alpha_2=value.upper()) is None or len(value) != 2:
        raise ValueError(f"country must be an ISO-3166 alpha-2 code (FR, US, ...), got {value!r}")
    return value.upper()


def _dob(value: str) -> str:
    try:
        if not _DATE.match(value):
            raise ValueError
        date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"dob must be a date YYYY-MM-DD, got {value!r}") from None
    return value


def _gender(value: str) -> str:
    if value.upper() not in GENDERS:
        raise ValueError(f"gender must be one of M, F, O, N, P, got {value!r}")
    return value.upper()


def _language(value: str) -> str:
    if len(value) != 2 or pycountry.languages.get(alpha_2=value.lower()) is None:
        raise ValueError(f"language must be an ISO-639-1 code (en, fr, ...), got {value!r}")
    return value.lower()


def _time_zone(value: str) -> str:
    if value not in _zones():
        raise ValueError(f"time_zone must be an IANA zone (Europe/Paris, ...), got {value!r}")
    return value


def _subscription(value: str) -> str:
    if value not in SUBSCRIPTIONS:
        raise ValueError(f"must be one of {', '.join(sorted(SUBSCRIPTIONS))}, got {value!r}")
    return value


_ATEXT = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~-"
# Plain ASCII addresses (a dot-atom, letter-only TLD, no "--" label, no special-use name):
# every one email-validator accepts (tests/importer hold this), at a tenth of its cost.
_PLAIN_EMAIL = re.compile(
    rf"[{_ATEXT}]{{1,64}}(?:\.[{_ATEXT}]+)*@"
    r"(?:(?!-)(?![A-Za-z0-9-]*--)[A-Za-z0-9-]{1,63}(?<!-)\.)+[A-Za-z]{2,63}"
)
_SPECIAL_USE = frozenset({"arpa", "invalid", "local", "localhost", "onion", "test"})


def _email(value: str) -> str:
    """The address as given, once email-validator finds its syntax valid (no DNS lookup:
    an import must not depend on the network); plain addresses take a fast path."""
    if (
        len(value) <= 254
        and _PLAIN_EMAIL.fullmatch(value)
        and value.rsplit(".", 1)[1].lower() not in _SPECIAL_USE
        and len(value.split("@", 1)[0]) <= 64
    ):
        return value
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"email must be a valid address; {value!r} is not: {exc}") from None
    return value


def _text(value: str) -> str:
    return value


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


STANDARD: dict[str, Callable[[str], str]] = {
    "external_id": _text,
    "user_id": _text,
    "first_name": _text,
    "last_name": _text,
    "email": _email,
    "phone": _text,
    "country": _country,
    "dob": _dob,
    "gender": _gender,
    "home_city": _text,
    "language": _language,
    "time_zone": _time_zone,
    "email_subscribe": _subscription,
    "push_subscribe": _subscription,
    "date_of_first_session": _text,
    "date_of_last_session": _text,
    "image_url": _text,
}


def near_miss(header: str) -> str | None:
    """The standard name a header probably meant (``First_name`` -> ``first_name``)."""
    if header in STANDARD:
        return None
    lowered = header.strip().lower().replace(" ", "_").replace("-", "_")
    if lowered in STANDARD:
        return lowered
    close = difflib.get_close_matches(lowered, STANDARD, n=1, cutoff=0.85)
    return close[0] if close else None
