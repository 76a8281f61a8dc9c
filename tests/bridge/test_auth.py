"""Write keys, Basic auth and webhook signatures (pure)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from traitflow.bridge.auth import (
    WriteKeys,
    basic_auth_key,
    first_element,
    read_write_keys,
    verify_signature,
)
from traitflow.bridge.refusals import RequestRefused
from traitflow.config import Settings
from traitflow.signing import signature


def test_write_keys_name_their_source_or_none() -> None:
    keys = WriteKeys({"web-key": "web", "server-key": ""})
    assert keys.source_of("web-key") == "web"
    assert keys.source_of("server-key") is None


@pytest.mark.parametrize("key", [None, "", "nope"])
def test_missing_or_unknown_key_is_401_without_echoing_it(key: str | None) -> None:
    with pytest.raises(RequestRefused) as refused:
        WriteKeys({"web-key": "web"}).source_of(key)
    assert refused.value.status == 401
    assert "web-key" not in refused.value.message
    assert (key or "web-key") not in refused.value.message


def test_keys_file_and_variable_combine(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text("# production keys\nios-key ios app\n\nplain-key\n")
    assert read_write_keys(path) == {"ios-key": "ios app", "plain-key": ""}
    keys = WriteKeys.from_settings(Settings(write_keys={"web-key": "web"}, write_keys_file=path))
    assert len(keys) == 3
    assert keys.source_of("ios-key") == "ios app"


def test_settings_never_show_write_keys() -> None:
    settings = Settings(write_keys={"secret-key": "web"}, webhook_secret="hush")
    assert "secret-key" not in repr(settings)
    assert "hush" not in repr(settings)


def test_basic_auth_carries_the_key_before_the_colon() -> None:
    header = "Basic " + base64.b64encode(b"my-key:").decode()
    assert basic_auth_key(header) == "my-key"
    assert basic_auth_key(None) is None


@pytest.mark.parametrize(
    "header",
    ["Bearer abc", "Basic !!!not-base64", "Basic " + base64.b64encode(b"no-colon").decode()],
)
def test_other_authorization_is_refused(header: str) -> None:
    with pytest.raises(RequestRefused) as refused:
        basic_auth_key(header)
    assert refused.value.status == 401


def test_signature_over_the_whole_body() -> None:
    body = b'{"type":"track","userId":"u1","event":"x"}'
    verify_signature(b"secret", body, signature(b"secret", body))
    with pytest.raises(RequestRefused, match="does not match"):
        verify_signature(b"other", body, signature(b"secret", body))
    with pytest.raises(RequestRefused, match="required"):
        verify_signature(b"secret", body, None)


def test_signature_of_a_batch_covers_element_zero_as_sent() -> None:
    first = b'{ "type" : "track", "event": "a]},\\"", "n": [1, {"x": 2}] }'
    body = b" [ " + first + b' ,\n {"type": "track"} ]'
    assert first_element(body) == first
    verify_signature(b"secret", body, signature(b"secret", first).upper(), scope="first")
    with pytest.raises(RequestRefused, match="does not match"):
        verify_signature(b"secret", body, signature(b"secret", first))


@pytest.mark.parametrize(
    ("body", "first"),
    [(b"[1, 2]", b"1"), (b'["a,]", 2]', b'"a,]"'), (b"[null ]", b"null"), (b"[]", None)],
)
def test_first_element_of_scalars(body: bytes, first: bytes | None) -> None:
    assert first_element(body) == first


def test_first_element_is_none_for_objects_and_broken_json() -> None:
    assert first_element(b'{"a": 1}') is None
    assert first_element(b'[{"a": 1') is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)


@given(st.lists(json_values, min_size=1, max_size=4), st.sampled_from([None, 2]))
def test_first_element_matches_any_serialiser(values: list[object], indent: int | None) -> None:
    for separators in [(",", ":"), (", ", ": ")]:
        body = json.dumps(values, indent=indent, separators=separators).encode()
        first = first_element(body)
        assert first is not None
        assert json.loads(first) == values[0]
        assert (
            first
            == json.dumps(values[0], indent=indent, separators=separators)
            .replace("\n", "\n" + " " * (indent or 0))
            .encode()
        )
