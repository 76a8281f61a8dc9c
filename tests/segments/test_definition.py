"""Reading definition files: one, a list, several documents; errors say where."""

from pathlib import Path

import pytest

from traitflow.assets import asset_dir
from traitflow.exceptions import InvalidDefinition
from traitflow.segments import load_segments, segment_from_spec
from traitflow.segments.definition import parse_definitions

ONE = "key: trial\ncondition: {trait: plan, op: '=', value: trial}\n"


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_single_definition(tmp_path: Path) -> None:
    [segment] = load_segments(write(tmp_path, ONE))
    assert (segment.key, segment.name, segment.reads) == ("trial", "trial", ["trait plan"])


def test_multi_document_yaml_and_json(tmp_path: Path) -> None:
    two = ONE + "---\nkey: paid\ncondition: {trait: plan, op: in, value: [monthly]}\n"
    assert [s.key for s in load_segments(write(tmp_path, two))] == ["trial", "paid"]
    json = '{"key": "k", "condition": {"trait": "x", "op": "exists"}}'
    assert [s.key for s in load_segments(write(tmp_path, json, "s.json"))] == ["k"]


def test_examples_are_valid() -> None:
    assert len(load_segments(asset_dir("examples") / "segments.yaml")) >= 3


def test_rev_changes_with_content_only() -> None:
    spec = {"key": "k", "condition": {"trait": "x", "op": "exists"}}
    same = {"condition": {"op": "exists", "trait": "x"}, "key": "k"}
    other = {"key": "k", "condition": {"trait": "y", "op": "exists"}}
    assert segment_from_spec(spec).rev == segment_from_spec(same).rev
    assert segment_from_spec(spec).rev != segment_from_spec(other).rev


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no definitions found"),
        ("key: [unclosed", "not valid YAML"),
        ("key: 'bad key!'\ncondition: {trait: x, op: exists}", "#1 'bad key!': key must match"),
        ("key: k\ncondition: {trait: x, op: like}", "'like' is not one of the 34"),
        (ONE + "---\n" + ONE, "defined twice"),
        ("key: k\ncondition: {trait: x, op: '<'}", "needs a value"),
        (
            "key: k\ncondition: {event: Viewed, where: "
            "[{property: url, op: matches, value: '(a)\\1'}]}",
            r"'k': condition.where\[0\]: op 'matches': '\(a\)\\\\1' is not a pattern RE2 accepts",
        ),
        ("segments: 3", "must be a list"),
        ("0", "#1: must be object"),  # a scalar document (a fuzzed admin API body)
        ("a: &a [1, 2]\nkey: k\ncondition: {trait: x, op: in, value: *a}", r"aliases \(\*a\)"),
        ("true", "#1: must be object"),
    ],
)
def test_invalid_files_name_the_definition(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InvalidDefinition, match=message):
        load_segments(write(tmp_path, text))


def test_missing_file_is_a_definition_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidDefinition, match="cannot read"):
        load_segments(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ({"event": "Buy", "first": {"less_than": 1.0e300}}, "longer than 100 years"),
        ({"event": "Buy", "last": {"more_than": 40000, "unit": "days"}}, "longer than 100 years"),
        ({"event": "Buy", "within": {"last": 1e9}}, "longer than 100 years"),
        ({"event": "Buy", "within": {"from_ago": 1e12, "to_ago": 1}}, "longer than 100 years"),
        ({"trait": "t", "op": "within_last", "value": 1e300}, "at most 100 years"),
        ({"event": "Buy", "count": {"at_least": 20000}, "within": {"last": 30}}, "at most 1,000"),
        ({"trait": "tags", "op": "includes_any", "value": list(range(10_001))}, "10,000 items"),
        ({"sequence": {"steps": [{"event": "A"}, {"event": "B", "within": {"last": 1e300}}]}},
         "longer than 100 years"),
    ],
)  # fmt: skip
def test_spans_counts_and_lists_are_bounded(condition: dict[str, object], message: str) -> None:
    """A span of 1e300 days overflowed every instant it met (each such person's messages
    were dead-lettered); a windowed count of 20,000 grew profiles past their limit."""
    with pytest.raises(InvalidDefinition, match=message):
        segment_from_spec({"key": "k", "condition": condition})


def test_the_bounds_themselves_are_accepted() -> None:
    for condition in [
        {"event": "Buy", "first": {"less_than": 36_600, "unit": "days"}},
        {"event": "Buy", "count": {"at_least": 1000}, "within": {"last": 30}},
        {"event": "Buy", "count": {"at_least": 20000}},  # all-time: one integer
        {"trait": "tags", "op": "includes_any", "value": list(range(10_000))},
    ]:
        segment_from_spec({"key": "k", "condition": condition})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("key: a\ncondition: {trait: x, op: '>', value: .inf}", "inf is no JSON number"),
        ("key: a\ncondition: {trait: x, op: '=', value: .nan}", "nan is no JSON number"),
        ("key: a\ncondition: {trait: x, op: '=', value: 18446744073709551616}", "past 64 bits"),
        ("key: a\ncondition: {trait: x, op: '=', value: " + "[" * 3000 + "]" * 3000 + "}",
         "nested deeper"),
    ],
)  # fmt: skip
def test_what_json_cannot_hold_is_refused_not_an_error(text: str, message: str) -> None:
    """Each of these answered 500 through the admin API."""
    with pytest.raises(InvalidDefinition, match=message):
        parse_definitions(text, "request")
