"""The template pack: layouts and schemas agree, and the check catches it when they don't."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from participation_xl.check import check_pack, schema_leaves
from participation_xl.cli import main
from participation_xl.errors import PackError
from participation_xl.pack import load_pack

SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"


def _edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_builtin_pack_agrees(pack):
    assert check_pack(pack) == []
    assert set(pack.forms) == {"audit", "six-standards"}


def test_pack_check_command_passes_on_builtin_pack():
    result = CliRunner().invoke(main, ["pack", "check"])
    assert result.exit_code == 0, result.output
    assert "agree" in result.output


@pytest.mark.parametrize("form", ["audit", "six-standards"])
def test_every_schema_field_has_exactly_one_input(pack, form):
    f = pack.forms[form]
    assert sorted(x.path for x in f.fields) == sorted(schema_leaves(f.schema))


def test_schemas_are_2020_12_with_id_and_version(pack):
    for name in ("audit", "six-standards", "roster", "config"):
        schema = pack.schema(name)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["$id"].startswith("urn:participation-xl:")
        assert schema.get("x-form-version") or schema.get("x-version")


def test_a_schema_field_without_an_input_is_reported(pack_copy):
    # The inclusion block lists its fields explicitly, so a new field there has no cell.
    _edit_json(
        pack_copy / "schemas/audit.schema.json",
        lambda d: d["properties"]["inclusion"]["properties"].update(
            {"extra": {"type": "string", "title": "Extra"}}
        ),
    )
    problems = check_pack(load_pack(pack_copy))
    assert "audit: schema field 'inclusion.extra' has no input cell in the layout" in problems


def test_a_new_field_in_a_questions_block_is_placed_automatically(pack_copy):
    _edit_json(
        pack_copy / "schemas/audit.schema.json",
        lambda d: d["properties"]["about"]["properties"].update(
            {"extra": {"type": "string", "title": "Extra", "maxLength": 9}}
        ),
    )
    pack = load_pack(pack_copy)
    assert check_pack(pack) == []
    assert "about.extra" in [f.path for f in pack.forms["audit"].fields]


def test_a_layout_field_missing_from_the_schema_is_an_error(pack_copy):
    path = pack_copy / "workbook_templates/audit.toml"
    path.write_text(path.read_text().replace('fields = ["cost_of_living"]', 'fields = ["nope"]'))
    with pytest.raises(PackError, match=r"inclusion\.nope"):
        load_pack(pack_copy)


def test_table_rows_must_match_the_schema(pack_copy):
    path = pack_copy / "workbook_templates/audit.toml"
    old = 'field = "you_said_we_did" }'
    path.write_text(path.read_text().replace(old, 'field = "you_said_we_did", rows = 40 }'))
    problems = check_pack(load_pack(pack_copy))
    assert any("has 40 rows but the schema allows 100" in p for p in problems)


def test_an_unsupported_conditional_rule_is_refused(pack_copy):
    _edit_json(
        pack_copy / "schemas/audit.schema.json",
        lambda d: d["properties"]["commitment"]["allOf"].append(
            {
                "if": {"properties": {"a": {"const": 1}, "b": {"const": 2}}},
                "then": {"required": ["lead_name"]},
            }
        ),
    )
    with pytest.raises(PackError, match="conditional rule"):
        load_pack(pack_copy)


def test_a_changed_enum_flows_into_the_dropdown(pack_copy, tmp_path):
    # The schema is the single source of truth: edit the enum, the workbook follows.
    _edit_json(
        pack_copy / "schemas/six-standards.schema.json",
        lambda d: d["$defs"]["standard"]["properties"]["rating"]["enum"].append("Exceeded"),
    )
    pack = load_pack(pack_copy)
    assert check_pack(pack) == []
    assert (
        pack.forms["six-standards"].choice_lists()["list.standards.feedback.rating"][-1]
        == "Exceeded"
    )


def test_pack_check_cli_reports_problems_with_exit_2(pack_copy):
    path = pack_copy / "workbook_templates/audit.toml"
    old = 'field = "you_said_we_did" }'
    path.write_text(path.read_text().replace(old, 'field = "you_said_we_did", rows = 40 }'))
    result = CliRunner().invoke(main, ["pack", "check", str(pack_copy)])
    assert result.exit_code == 2
    assert "40 rows" in result.output


@pytest.mark.skipif(
    not SEEDS.is_dir() and not os.environ.get("CI"), reason="../shared is not beside this checkout"
)
def test_framework_text_is_word_for_word_from_the_seed(pack):
    seed = (SEEDS / "participation-promise.txt").read_text(encoding="utf-8")
    audit = pack.forms["audit"].schema["properties"]
    six = pack.forms["six-standards"].schema["properties"]
    texts = [v["title"] for v in audit["promises"]["properties"].values()]
    texts += [v["title"] for v in audit["rights"]["properties"].values()]
    texts += [v["title"].split(": ", 1)[1] for v in six["standards"]["properties"].values()]
    assert len(texts) == 16
    for text in texts:
        assert f"- {text}" in seed, text
