"""Every standard column rule, and type inference for custom columns."""

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from traitflow.importer.columns import _PLAIN_EMAIL, STANDARD, near_miss
from traitflow.importer.values import coerce, infer


@pytest.mark.parametrize(
    ("column", "good", "normalised", "bad"),
    [
        ("country", "fr", "FR", "France"),
        ("country", "US", "US", "XX"),
        ("dob", "1990-01-31", "1990-01-31", "1990-02-31"),
        ("dob", "2000-12-01", "2000-12-01", "01/12/2000"),
        ("gender", "f", "F", "female"),
        ("language", "FR", "fr", "fra"),
        ("time_zone", "Europe/Paris", "Europe/Paris", "CET+1"),
        ("email_subscribe", "opted_in", "opted_in", "yes"),
        ("push_subscribe", "unsubscribed", "unsubscribed", "Subscribed"),
        ("email", "a@b.co", "a@b.co", "not an email"),
    ],
)
def test_standard_rules(column: str, good: str, normalised: str, bad: str) -> None:
    assert STANDARD[column](good) == normalised
    with pytest.raises(ValueError, match="must"):
        STANDARD[column](bad)


def test_near_misses_of_standard_names_are_spotted() -> None:
    assert near_miss("First_name") == "first_name"
    assert near_miss("Time Zone") == "time_zone"
    assert near_miss("first_name") is None
    assert near_miss("favourite_colour") is None


@pytest.mark.parametrize(
    ("cell", "kind", "value"),
    [
        ("TRUE", "boolean", True),
        ("false", "boolean", False),
        ("42", "integer", 42),
        ("-7", "integer", -7),
        ("3.25", "float", 3.25),
        ("1e3", "float", 1000.0),
        ("2026-11-23", "datetime", "2026-11-23"),
        ("2026-11-23T08:00:00Z", "datetime", "2026-11-23T08:00:00Z"),
        ("1,000", "string", "1,000"),
        ("hello", "string", "hello"),
    ],
)
def test_inference(cell: str, kind: str, value: object) -> None:
    assert infer(cell) == (kind, value)


def test_overrides() -> None:
    assert coerce("007", "string") == "007"
    assert coerce("7", "float") == 7.0
    with pytest.raises(ValueError, match="not a integer"):
        coerce("7.5", "integer")


@pytest.mark.parametrize(
    "address",
    [
        "ada@.com",
        "ada@example..com",
        "ada@-example.com",
        "a b@c.com",
        "ada@x.test",
        "ada@x.c1",
        "ada@xn--zz.com",
    ],
)
def test_email_syntax_is_checked_by_its_rfc_not_by_a_dot_and_an_at(address: str) -> None:
    with pytest.raises(ValueError, match="email must be a valid address"):
        STANDARD["email"](address)
    assert STANDARD["email"]("Ada.Lovelace+news@Example.co.uk") == "Ada.Lovelace+news@Example.co.uk"


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.from_regex(_PLAIN_EMAIL, fullmatch=True))
def test_the_fast_email_path_accepts_only_what_email_validator_accepts(address: str) -> None:
    """Plain addresses skip email-validator (a tenth of the cost): each one it would refuse
    must still reach it, and be refused."""
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        with pytest.raises(ValueError, match="email must be a valid address"):
            STANDARD["email"](address)
    else:
        assert STANDARD["email"](address) == address
