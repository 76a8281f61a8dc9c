"""``traitflow segments apply|list|show|delete`` against a real broker."""

from pathlib import Path

import pytest

from tests.cli.helpers import run_cli
from traitflow.config import Settings
from traitflow.exceptions import InvalidDefinition, TraitflowError

pytestmark = pytest.mark.integration

DEFINITIONS = """
segments:
  - key: trial
    name: Trial users
    condition: {trait: plan, op: "=", value: trial}
  - key: rich
    condition: {trait: ltv, op: ">=", value: 1000}
"""


def test_apply_then_list_show_and_delete(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "segments.yaml"
    path.write_text(DEFINITIONS)
    applied = run_cli(settings, "segments", "apply", str(path))
    assert applied.exit_code == 0, applied.output
    assert "applied segment trial" in applied.output

    listed = run_cli(settings, "segments", "list")
    assert "Trial users" in listed.output and "rich" in listed.output

    shown = run_cli(settings, "segments", "show", "trial")
    assert "value: trial" in shown.output

    assert run_cli(settings, "segments", "delete", "rich").exit_code == 0
    assert "rich" not in run_cli(settings, "segments", "list").output


def test_invalid_file_is_refused_before_anything_is_published(
    settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(DEFINITIONS + "  - key: broken\n    condition: {trait: x, op: nope}\n")
    result = run_cli(settings, "segments", "apply", str(path))
    assert isinstance(result.exception, InvalidDefinition)
    assert "#3" in str(result.exception)
    assert "no segments are live" in run_cli(settings, "segments", "list").output


def test_show_unknown_segment_says_what_to_do(settings: Settings) -> None:
    result = run_cli(settings, "segments", "show", "ghost")
    assert isinstance(result.exception, TraitflowError)
    assert "segments list" in str(result.exception)


def test_deleting_an_unknown_key_deletes_nothing_and_suggests_the_live_one(
    settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "segments.yaml"
    path.write_text(DEFINITIONS)
    assert run_cli(settings, "segments", "apply", str(path)).exit_code == 0
    result = run_cli(settings, "segments", "delete", "trail")
    assert isinstance(result.exception, InvalidDefinition)
    assert "no live definition 'trail' (did you mean 'trial'?): nothing deleted" in str(
        result.exception
    )
    assert "trial" in run_cli(settings, "segments", "list").output


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("key: vip\nconditon: {trait: plan, op: '=', value: x}\n",
         "'vip': unknown key 'conditon' (did you mean 'condition'?)"),
        ("key: vip\ncondition: {trait: plan, op: equals, value: x}\n",
         "'vip': condition.op 'equals' is not one of the 34 allowed values (did you mean '='?)"),
        ("key: vip\n", "'vip': 'condition' is missing"),
        ("key: deep\ncondition: " + "{not: " * 300 + "{trait: p, op: exists}" + "}" * 300 + "\n",
         "'deep': nested deeper than 64 levels"),
    ],
    ids=["misspelled key", "unknown operator", "missing condition", "300 deep"],
)  # fmt: skip
def test_a_bad_definition_names_the_segment_the_problem_and_the_fix(
    settings: Settings, tmp_path: Path, text: str, said: str
) -> None:
    path = tmp_path / "vip.yaml"
    path.write_text(text)
    result = run_cli(settings, "segments", "apply", str(path))
    assert isinstance(result.exception, InvalidDefinition), result.output
    assert said in str(result.exception)
