"""URLs as logs and output show them: no user, password or query."""

from __future__ import annotations

from traitflow.urls import redacted, shown


def test_credentials_and_queries_are_hidden() -> None:
    assert redacted("https://bob:pw@hooks.example.com/x?sig=abc") == (
        "https://***@hooks.example.com/x?***"
    )
    assert redacted("s3://key:secret@bucket/crm/") == "s3://***@bucket/crm/"
    assert redacted("not a url") == "<not an absolute URL>"


def test_a_local_path_is_shown_as_it_is() -> None:
    assert shown("/data/exports/") == "/data/exports/"
    assert shown("s3://bucket/crm/?token=x") == "s3://bucket/crm/?***"
