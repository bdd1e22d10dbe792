"""A damaged template pack is named, file and place, with exit 2: never a traceback.

Issue 13, items 8 (pack layouts and schemas) and 13b (an integer with only a minimum).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from participation_xl.check import check_pack
from participation_xl.cli import main
from participation_xl.errors import PackError
from participation_xl.pack import load_pack


def _edit_layout(pack: Path, old: str, new: str) -> None:
    path = pack / "workbook_templates/audit.toml"
    text = path.read_text()
    assert re.search(old, text, flags=re.M), old
    path.write_text(re.sub(old, new, text, count=1, flags=re.M))


def _edit_schema(pack: Path, change) -> None:
    path = pack / "schemas/audit.schema.json"
    data = json.loads(path.read_text())
    path.write_text(json.dumps(change(data)))


def _remove_key(data: dict, *path: str) -> dict:
    node = data
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]
    return data


STAFF_TOTAL = ("properties", "commitment", "properties", "staff_total")
BROKEN = {
    "layout_without_schema": (lambda p: _edit_layout(p, r"^schema = .*$", ""), "pack.layout"),
    "layout_without_form": (lambda p: _edit_layout(p, r"^form = .*$", ""), "pack.layout"),
    "field_is_a_number": (
        lambda p: _edit_layout(p, r'field = "about" \}', "field = 5 }"),
        "pack.layout",
    ),
    "short_name_is_a_number": (
        lambda p: _edit_layout(p, r"^short_name = .*$", "short_name = 5"),
        "pack.layout",
    ),
    "layout_is_not_toml": (
        lambda p: _edit_layout(p, r"^framework = ", 'form = "again"\nframework = '),
        "pack.layout",
    ),
    "schema_is_not_json": (
        lambda p: (p / "schemas/audit.schema.json").write_text("{not json"),
        "pack.schema",
    ),
    "schema_is_a_list": (lambda p: _edit_schema(p, lambda d: [d]), "pack.schema"),
    "schema_properties_is_a_list": (
        lambda p: _edit_schema(p, lambda d: {**d, "properties": [1]}),
        "pack.schema",
    ),
    "pack_forms_is_a_string": (
        lambda p: (p / "workbook_templates/pack.toml").write_text('name = "x"\nforms = "audit"\n'),
        "pack.meta_shape",  # pack.toml's own code: it says to fix pack.toml
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_pack_is_a_pack_error_naming_the_file(pack_copy, case):
    breaks, code = BROKEN[case]
    breaks(pack_copy)
    with pytest.raises(PackError) as caught:
        load_pack(pack_copy)
    assert caught.value.code == code
    assert str(pack_copy) in str(caught.value)


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_pack_check_on_a_broken_pack_exits_2_with_a_message(pack_copy, case):
    BROKEN[case][0](pack_copy)
    result = CliRunner().invoke(main, ["pack", "check", str(pack_copy)])
    assert result.exit_code == 2, result.output
    assert ("Traceback" not in result.output and result.exception is None) or isinstance(
        result.exception, SystemExit
    )
    assert str(pack_copy) in result.output


def test_generate_with_a_broken_workspace_pack_exits_2(tmp_path, pack_copy):
    import datetime as dt

    from participation_xl.workspace import init_workspace

    ws = init_workspace(tmp_path / "ws", "Council", "2026-27", dt.date(2027, 3, 31))
    config = ws.root / "participation.toml"
    config.write_text(config.read_text().replace('pack = ""', f'pack = "{pack_copy}"'))
    _edit_layout(pack_copy, r"^schema = .*$", "")
    result = CliRunner().invoke(main, ["-w", str(ws.root), "generate"])
    assert result.exit_code == 2, result.output
    assert "audit.toml" in result.output and "'schema' is a required property" in result.output


def test_pack_check_passes_an_integer_field_with_only_a_minimum(pack_copy):
    _edit_schema(
        pack_copy,
        lambda d: _remove_key(
            d, "properties", "commitment", "properties", "staff_total", "maximum"
        ),
    )
    assert check_pack(load_pack(pack_copy)) == []


def test_pack_check_passes_an_integer_field_with_only_a_maximum(pack_copy):
    _edit_schema(
        pack_copy,
        lambda d: _remove_key(
            d, "properties", "commitment", "properties", "staff_total", "minimum"
        ),
    )
    assert check_pack(load_pack(pack_copy)) == []


def test_pack_check_still_fails_a_validation_bound_that_differs(pack_copy, monkeypatch):
    # The numeric comparison must not hide a real disagreement: Excel's bound 1 vs schema 2.
    from participation_xl import check

    _edit_schema(
        pack_copy,
        lambda d: _remove_key(
            d, "properties", "commitment", "properties", "staff_total", "maximum"
        ),
    )
    real = check._expected_bounds
    monkeypatch.setattr(
        check,
        "_expected_bounds",
        lambda f: ("2", "1000000000000000") if f.path == "commitment.staff_total" else real(f),
    )
    problems = check_pack(load_pack(pack_copy))
    assert any("commitment.staff_total" in p and "bounds" in p for p in problems), problems
