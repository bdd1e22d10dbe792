"""Generated workbooks, inspected with openpyxl and openxml-audit, one behaviour per test."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import openpyxl
import pytest
from openxml_audit import OpenXmlValidator

from participation_xl import identity
from participation_xl.generate import IssueContext, build_workbook, generate, safe_name
from participation_xl.pack import INSTRUCTIONS_SHEET, LISTS_SHEET, META_SHEET
from participation_xl.roster import Team

FORMS = ["audit", "six-standards"]
TEAM = Team(
    "ADV1",
    "Independent Advocacy",
    "Advocacy",
    "commissioned",
    "Off the Record",
    "Jo Smith",
    "jo@example.org",
)
CTX = IssueContext(
    "Test Council",
    "2026-27",
    dt.date(2027, 3, 31),
    "the shared folder",
    "pw-123",
    b"secret-key",
    "2026-11-24T10:00:00+00:00",
)


@pytest.fixture(scope="module", params=FORMS)
def book(request, pack):
    form = pack.forms[request.param]
    data = build_workbook(form, TEAM, CTX)
    return form, data, openpyxl.load_workbook(io.BytesIO(data))


def _form_sheets(form, wb):
    return [wb[s.name] for s in form.sheets]


def test_every_sheet_and_the_structure_are_protected(book):
    _form, _, wb = book
    for ws in wb.worksheets:
        assert ws.protection.sheet, ws.title
        assert ws.protection.password, ws.title  # the hash of the workspace password
    assert wb.security.lockStructure


def test_every_input_name_resolves_to_an_unlocked_cell(book):
    form, _, wb = book
    for f in form.fields:
        dests = list(wb.defined_names[f.path].destinations)
        assert len(dests) == 1
        sheet, ref = dests[0]
        for row in (
            wb[sheet][ref.replace("$", "")] if ":" in ref else [[wb[sheet][ref.replace("$", "")]]]
        ):
            for cell in row:
                assert cell.protection.locked is False, (f.path, cell.coordinate)


def test_every_other_non_empty_cell_is_locked(book):
    form, _, wb = book
    inputs = {(i.sheet, i.row, i.col) for i in form.inputs}
    for t in form.tables:
        inputs |= {
            (t.sheet, r, t.col_of(c.key))
            for r in range(t.first_row, t.last_row + 1)
            for c in t.columns
        }
    checked = 0
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if (ws.title, cell.row, cell.column) in inputs:
                    continue
                if cell.value is not None:
                    assert cell.protection.locked, (ws.title, cell.coordinate)
                    checked += 1
    assert checked > 50


def test_list_options_equal_the_schema_enum(book):
    form, _, wb = book
    lists = wb[LISTS_SHEET]
    for f in form.fields:
        if f.kind != "choice":
            continue
        sheet, ref = next(iter(wb.defined_names[f.choices_name].destinations))
        assert sheet == LISTS_SHEET
        values = [c.value for row in lists[ref.replace("$", "")] for c in row]
        assert values == list(f.choices)


def test_list_validations_point_at_the_hidden_lists_never_inline(book):
    form, _, wb = book
    lists = [
        dv
        for ws in _form_sheets(form, wb)
        for dv in ws.data_validations.dataValidation
        if dv.type == "list"
    ]
    assert lists
    for dv in lists:
        assert dv.formula1.startswith("list."), dv.formula1
        assert dv.showErrorMessage and dv.error and dv.prompt


def test_numbers_and_dates_are_validated_with_schema_bounds(pack):
    form = pack.forms["audit"]
    wb = openpyxl.load_workbook(io.BytesIO(build_workbook(form, TEAM, CTX)))
    ws = wb["About the team"]
    by_cell = {str(c): dv for dv in ws.data_validations.dataValidation for c in dv.sqref.ranges}
    age = next(i for i in form.inputs if i.field.path == "about.youngest_age")
    dv = by_cell[ws.cell(age.row, age.col).coordinate]
    assert (dv.type, dv.formula1, dv.formula2) == ("whole", "0", "25")
    when = next(i for i in form.inputs if i.field.path == "about.date_completed")
    assert by_cell[ws.cell(when.row, when.col).coordinate].type == "date"
    assert ws.cell(when.row, when.col).number_format == "dd/mm/yyyy"


def test_identity_sheet_is_very_hidden_and_lists_hidden(book):
    _, _, wb = book
    assert wb[META_SHEET].sheet_state == "veryHidden"
    assert wb[LISTS_SHEET].sheet_state == "hidden"
    assert wb.sheetnames[0] == INSTRUCTIONS_SHEET


def _meta(wb):
    ws = wb[META_SHEET]
    return {ws.cell(r, 1).value: ws.cell(r, 2).value for r in range(1, 10) if ws.cell(r, 1).value}


def test_signature_verifies_and_fails_if_any_identity_field_changes(book):
    form, _, wb = book
    meta = _meta(wb)
    assert meta["form"] == form.id and meta["team_id"] == "ADV1" and meta["cycle"] == "2026-27"
    assert identity.verify(meta, meta["signature"], CTX.secret)
    assert not identity.verify(meta, meta["signature"], b"another workspace")
    for key in identity.KEYS:
        tampered = {**meta, key: meta[key] + "x"}
        assert not identity.verify(tampered, meta["signature"], CTX.secret), key


def test_the_secret_is_never_in_the_workbook(book):
    _, data, _ = book
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for name in z.namelist():
            assert CTX.secret not in z.read(name), name
            assert CTX.secret.hex().encode() not in z.read(name), name


def test_custom_properties_carry_the_signed_identity(book):
    form, _data, wb = book
    props = {p.name: p.value for p in wb.custom_doc_props.props}
    assert props[identity.PROPERTY_PREFIX + "form"] == form.id
    assert props[identity.PROPERTY_PREFIX + "signature"] == _meta(wb)["signature"]


def test_banner_counts_every_blank_required_answer_before_any_recalculation(book):
    # Cached values matter: LibreOffice shows them on load without recalculating.
    form, data, wb = book
    values = openpyxl.load_workbook(io.BytesIO(data), data_only=True)
    total = 0
    for plan in form.sheets:
        required = sum(1 for i in form.inputs if i.sheet == plan.name and i.field.required)
        required += sum(1 for t in form.tables if t.sheet == plan.name and t.min_items)
        assert str(wb[plan.name].cell(3, plan.last_col).value).startswith("=")
        assert values[plan.name].cell(3, plan.last_col).value == required, plan.name
        banner = values[plan.name].cell(3, 1).value
        assert banner.startswith("✗ Still to do" if required else "✓"), banner
        total += required
    assert values[INSTRUCTIONS_SHEET]["C3"].value == total
    assert values[INSTRUCTIONS_SHEET]["A3"].value == (
        f"✗ Still to do: {total} answers to fill in or fix in this workbook."
    )


def test_still_to_do_names_one_cell_holding_the_count_of_answers_to_fix(book):
    form, data, wb = book
    values = openpyxl.load_workbook(io.BytesIO(data), data_only=True)
    ((sheet, cell),) = wb.defined_names["still_to_do"].destinations
    assert sheet == INSTRUCTIONS_SHEET and ":" not in cell
    assert str(wb[sheet][cell.replace("$", "")].value).startswith("=")
    # Blank: one error per required answer, one per table that needs a row.
    expected = sum(i.field.required for i in form.inputs) + sum(
        1 for t in form.tables if t.min_items
    )
    assert values[sheet][cell.replace("$", "")].value == expected


def test_every_answer_cell_turns_red_when_collect_would_report_an_error(book):
    form, _, wb = book
    for plan in form.sheets:
        ws = wb[plan.name]
        ranges = {c for r in ws.conditional_formatting for c in str(r.sqref).split()}
        for i in form.inputs:
            if i.sheet == plan.name:
                assert ws.cell(i.row, i.col).coordinate in ranges, (plan.name, i.field.path)
        for t in form.tables:
            if t.sheet == plan.name:
                for c in t.columns:
                    col = ws.cell(t.first_row, t.col_of(c.key)).column_letter
                    assert f"{col}{t.first_row}:{col}{t.last_row}" in ranges, c.path


def test_rows_holding_free_text_are_not_fixed_in_height(book):
    # A height is written (LibreOffice does not fit rows on opening) but not marked as set
    # by hand, so Excel fits the row to its text and both grow it as the team types.
    form, data, wb = book
    names = {ws.title: f"xl/worksheets/sheet{n}.xml" for n, ws in enumerate(wb.worksheets, 1)}
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for plan in form.sheets:
            xml = z.read(names[plan.name]).decode()
            rows = [i.row for i in form.inputs if i.sheet == plan.name]
            rows += [
                r
                for t in form.tables
                if t.sheet == plan.name
                for r in range(t.first_row, t.last_row + 1)
            ]
            for row in rows:
                tag = xml[xml.index(f'<row r="{row}"') :].split(">", 1)[0]
                assert "customHeight" not in tag, (plan.name, tag)


def test_issued_file_names_carry_the_team_the_form_and_the_cycle(issued):
    ws, paths = issued
    names = [p.name for p in paths]
    assert len(set(names)) == len(names)
    for p in paths:
        team = p.parent.name.split(" ", 1)[0]
        assert p.name.startswith(team + " ") and p.name.endswith(f" {ws.cycle}.xlsx"), p.name


def test_print_setup_is_a4_one_page_wide_with_repeated_headers(book):
    form, _, wb = book
    for ws in _form_sheets(form, wb):
        assert ws.page_setup.paperSize == 9
        assert ws.sheet_properties.pageSetUpPr.fitToPage
        # fitToWidth defaults to 1 in OOXML, so XlsxWriter leaves it out; 0 tall = no limit.
        assert ws.page_setup.fitToWidth in (None, 1) and ws.page_setup.fitToHeight == 0
        assert ws.print_title_rows
        assert ws.freeze_panes


def test_no_merged_cells_touch_an_answer(book):
    form, _, wb = book
    for ws in _form_sheets(form, wb):
        for merged in ws.merged_cells.ranges:
            for i in form.inputs:
                if i.sheet == ws.title:
                    assert (i.row, i.col) not in set(merged.cells), merged


def test_input_cells_are_marked_by_more_than_colour(book):
    form, _, wb = book
    for i in form.inputs:
        cell = wb[i.sheet].cell(i.row, i.col)
        assert cell.fill.fgColor.rgb.endswith("FFF2CC")
        assert cell.border.left.style == "mediumDashed"  # the cue that is not colour


def test_user_text_prefilled_into_a_workbook_stays_text(pack):
    form = pack.forms["six-standards"]
    hostile = '=HYPERLINK("http://evil.example","x")'
    answers = {"contract": {"service_name": hostile, "contact_name": "http://example.org"}}
    wb = openpyxl.load_workbook(io.BytesIO(build_workbook(form, TEAM, CTX, answers)))
    cell = wb.defined_names["contract.service_name"]
    sheet, ref = next(iter(cell.destinations))
    assert wb[sheet][ref.replace("$", "")].data_type == "s"
    assert wb[sheet][ref.replace("$", "")].value == hostile
    assert not wb[sheet]._hyperlinks


@pytest.mark.parametrize("form_id", FORMS)
def test_openxml_audit_finds_no_errors(pack, tmp_path, form_id):
    path = tmp_path / f"{form_id}.xlsx"
    path.write_bytes(build_workbook(pack.forms[form_id], TEAM, CTX))
    result = OpenXmlValidator().validate(str(path))
    assert result.errors == [] and result.is_valid


def test_generate_writes_one_folder_per_team_with_its_forms(issued):
    ws, paths = issued
    names = sorted(str(p.relative_to(ws.outbox)) for p in paths)
    assert names == [
        "ADV1 Independent Advocacy/ADV1 Participation audit 2026-27.xlsx",
        "ADV1 Independent Advocacy/ADV1 Six Standards review 2026-27.xlsx",
        "EH01 Early Help North/EH01 Participation audit 2026-27.xlsx",
        "SW02 Children in Care Team/SW02 Participation audit 2026-27.xlsx",
    ]


def test_generate_for_named_teams_only(workspace):
    paths = generate(workspace, team_ids=["EH01"])
    assert [p.parent.name for p in paths] == ["EH01 Early Help North"]


def test_generate_uses_a_pool_for_large_rosters(workspace, tmp_path):
    roster = tmp_path / "big.csv"
    rows = ["team_id,team_name,service_area,kind,provider,contact_name,contact_email"]
    rows += [f"T{n:03},Team {n},Area,internal,,Name,t{n}@example.org" for n in range(20)]
    roster.write_text("\n".join(rows))
    paths = generate(workspace, roster)
    assert len(paths) == 20 and all(p.stat().st_size > 10_000 for p in paths)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("T1 Early Help", "T1 Early Help"),
        ("T2 A/B: <C>?", "T2 A_B_ _C__"),
        ("  T3 trailing dots. ", "T3 trailing dots"),
    ],
)
def test_folder_names_are_made_safe(text, expected):
    assert safe_name(text) == expected
