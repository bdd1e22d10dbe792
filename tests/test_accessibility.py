"""The accessibility check: each check proven on a tiny workbook, then run on every output.

Each test builds the smallest workbook that passes or fails one check (with XlsxWriter, as
the tool does; with openpyxl where XlsxWriter refuses to write the fault) and asserts the
codes found, so every check is shown able to fail.
"""

from __future__ import annotations

import dataclasses
import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import xlsxwriter
from openpyxl.styles import Font
from openpyxl.styles.colors import Color
from openpyxl.styles.fills import GradientFill
from openpyxl.worksheet.table import Table

from participation_xl.accessibility import CRITERIA, Finding, check_workbook
from participation_xl.demo import run_demo

Build = Callable[[xlsxwriter.Workbook], None]


def codes(tmp_path: Path, build: Build) -> list[str]:
    """Build a workbook with XlsxWriter and return the codes of its findings."""
    path = tmp_path / "book.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    build(wb)
    wb.close()
    return [f.code for f in check_workbook(path)]


def _png() -> bytes:
    """A one-pixel white PNG, so no binary fixture is needed."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\xff\xff")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


# --- a11y.sheet_name -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Returns", []),
        ("Action plan 2026", []),
        ("Sheet1", ["a11y.sheet_name"]),
        ("sheet 12", ["a11y.sheet_name"]),
        ("Chart1", ["a11y.sheet_name"]),
        ("2026", ["a11y.sheet_name"]),
    ],
)
def test_sheet_names_say_what_a_sheet_holds(tmp_path, name, expected):
    assert codes(tmp_path, lambda wb: wb.add_worksheet(name).write("A1", "Hello")) == expected


def test_hidden_sheets_are_not_read(tmp_path):
    def build(wb):
        wb.add_worksheet("Returns").write("A1", "Hello")
        wb.add_worksheet("Sheet2").hide()

    assert codes(tmp_path, build) == []


# --- a11y.alt_text ---------------------------------------------------------------------


def _chart(wb: xlsxwriter.Workbook, options: dict[str, Any], **series: Any) -> None:
    ws = wb.add_worksheet("Figures")
    ws.write_column("A1", ["Met", "Not met"])
    ws.write_column("B1", [3, 4])
    chart = wb.add_chart({"type": "bar", "subtype": "stacked"})
    chart.add_series({"categories": "=Figures!$A$1:$A$2", "values": "=Figures!$B$1:$B$2", **series})
    ws.insert_chart("D2", chart, options)


@pytest.mark.parametrize(
    ("options", "expected"),
    [({"description": "Bar chart: 3 met, 4 not met."}, []), ({}, ["a11y.alt_text"])],
)
def test_charts_need_alt_text(tmp_path, options, expected):
    assert codes(tmp_path, lambda wb: _chart(wb, options)) == expected


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"description": "The council's logo"}, []),
        ({"decorative": True}, []),
        ({}, ["a11y.alt_text"]),
    ],
)
def test_pictures_need_alt_text_unless_decorative(tmp_path, options, expected):
    def build(wb):
        ws = wb.add_worksheet("Cover")
        ws.write("A1", "Participation audit")
        ws.insert_image("C3", "dot.png", {"image_data": io.BytesIO(_png()), **options})

    assert codes(tmp_path, build) == expected


# --- a11y.table_header, a11y.table_merged ------------------------------------------------


@pytest.mark.parametrize(("header", "expected"), [(True, []), (False, ["a11y.table_header"])])
def test_tables_have_a_header_row(tmp_path, header, expected):
    def build(wb):
        ws = wb.add_worksheet("Returns")
        ws.add_table("A1:B3", {"header_row": header, "data": [["EH01", "Valid"], ["EH02", "Late"]]})

    assert codes(tmp_path, build) == expected


@pytest.mark.parametrize(("merge", "expected"), [("D1:E1", []), ("A2:B2", ["a11y.table_merged"])])
def test_no_merged_cells_in_a_table(tmp_path, merge, expected):
    # XlsxWriter refuses to merge over a table, so this fault is written with openpyxl.
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Returns"
    for row in (["Team", "Status"], ["EH01", "Valid"], ["EH02", "Late"]):
        ws.append(row)
    ws["D1"] = "Note"
    ws.add_table(Table(displayName="Returns", ref="A1:B3"))
    ws.merge_cells(merge)
    wb.save(tmp_path / "book.xlsx")
    assert [f.code for f in check_workbook(tmp_path / "book.xlsx")] == expected


# --- a11y.contrast -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "value", "expected"),
    [
        ({}, "Default black on white", []),
        ({"font_color": "#1F3864"}, "Dark blue on white", []),
        ({"font_color": "#FFFFFF", "bg_color": "#1F4E79"}, "White on dark blue", []),
        ({"font_color": "#767676"}, "Grey just above 4.5:1", []),
        ({"font_color": "#FFFFFF", "bg_color": "#FFFF00"}, "White on yellow", ["a11y.contrast"]),
        ({"font_color": "#808080"}, "Grey just below 4.5:1", ["a11y.contrast"]),
        ({"font_color": "#FFFFFF", "bg_color": "#BF8F00"}, 42, ["a11y.contrast"]),
        ({"font_color": "#FFFFFF", "bg_color": "#BF8F00"}, None, []),  # no text to read
    ],
)
def test_cell_text_contrast(tmp_path, fmt, value, expected):
    def build(wb):
        ws = wb.add_worksheet("Colours")
        ws.write("A1", value, wb.add_format(fmt))

    assert codes(tmp_path, build) == expected


def test_each_rich_text_run_is_checked(tmp_path):
    def build(wb):
        ws = wb.add_worksheet("Colours")
        pale = wb.add_format({"font_color": "#DDDDDD"})
        ws.write_rich_string("A1", "Readable, then ", pale, "faint")

    assert codes(tmp_path, build) == ["a11y.contrast"]


@pytest.mark.parametrize(
    ("stops", "expected"),
    [(("FFFFFF", "DDDDDD"), []), (("000000", "1F4E79"), ["a11y.contrast"] * 2)],  # one per stop
)
def test_a_gradient_filled_cell_is_checked(tmp_path, stops, expected):
    # openpyxl hands a cell's fill over wrapped in a proxy: it must still read as a gradient.
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Colours"
    ws["A1"] = "Some text"
    ws["A1"].fill = GradientFill(stop=stops)
    wb.save(tmp_path / "book.xlsx")
    assert [f.code for f in check_workbook(tmp_path / "book.xlsx")] == expected


@pytest.mark.parametrize(
    ("color", "expected"),
    [
        (Color(theme=1), []),  # dark 1: black
        (Color(theme=0), ["a11y.contrast"]),  # light 1: white on white
        (Color(theme=1, tint=0.8), ["a11y.contrast"]),  # black lightened to pale grey
        (Color(indexed=12), []),  # the palette's blue, 8.6:1
        (Color(indexed=10), ["a11y.contrast"]),  # the palette's red, 4.0:1
        (Color(indexed=80), ["a11y.contrast"]),  # not in the palette: cannot be known
    ],
)
def test_theme_and_indexed_colours_are_resolved(tmp_path, color, expected):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Colours"
    ws["A1"] = "Some text"
    ws["A1"].font = Font(color=color)
    wb.save(tmp_path / "book.xlsx")
    assert [f.code for f in check_workbook(tmp_path / "book.xlsx")] == expected


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ({"bg_color": "#FBE2D5", "font_color": "#9C0006"}, []),
        ({"bg_color": "#FBE2D5"}, []),  # the cell's own black text on the new fill
        ({"font_color": "#FFFFFF"}, ["a11y.contrast"]),  # white on the cell's white
        ({"bg_color": "#000000"}, ["a11y.contrast"]),  # black text on a black fill
    ],
)
def test_conditional_format_contrast(tmp_path, fmt, expected):
    def build(wb):
        ws = wb.add_worksheet("Status")
        ws.write_column("A1", ["Valid", "Late"])
        ws.conditional_format(
            "A1:A2",
            {"type": "cell", "criteria": "==", "value": '"Late"', "format": wb.add_format(fmt)},
        )

    assert codes(tmp_path, build) == expected


@pytest.mark.parametrize(("top", "expected"), [("#9DC3E6", []), ("#1F3864", ["a11y.contrast"])])
def test_colour_scale_contrast(tmp_path, top, expected):
    def build(wb):
        ws = wb.add_worksheet("Counts")
        ws.write_row("A1", ["Youth Forum", 1, 5, 9])
        ws.conditional_format("B1:D1", {"type": "2_color_scale", "max_color": top})

    assert codes(tmp_path, build) == expected


@pytest.mark.parametrize(("fill", "expected"), [("#1F4E79", []), ("#BF8F00", ["a11y.contrast"])])
def test_chart_labels_on_bars_contrast(tmp_path, fill, expected):
    labels = {"value": True, "font": {"color": "#FFFFFF"}}
    described = {"description": "Bar chart: 3 met, 4 not met."}
    assert (
        codes(tmp_path, lambda wb: _chart(wb, described, fill={"color": fill}, data_labels=labels))
        == expected
    )


# --- a11y.colour_only --------------------------------------------------------------------


def _flagged(wb: xlsxwriter.Workbook, ws: Any, where: str, criteria: str) -> None:
    red = wb.add_format({"bg_color": "#FBE2D5", "font_color": "#9C0006"})
    ws.conditional_format(where, {"type": "formula", "criteria": criteria, "format": red})


def test_colour_alone_fails_even_beside_a_row_label(tmp_path):
    def build(wb):
        ws = wb.add_worksheet("Form")
        ws.write("A2", "Your role (required)")
        _flagged(wb, ws, "B2", '=$B$2=""')

    assert codes(tmp_path, build) == ["a11y.colour_only"]


def test_a_live_status_in_the_row_says_it_in_words(tmp_path):
    def build(wb):
        ws = wb.add_worksheet("Form")
        ws.write("A2", "Your role (required)")
        ws.write_formula("C2", '=IF(B2="","Still needed","✓ Done")', None, "Still needed")
        _flagged(wb, ws, "B2", '=$B$2=""')

    assert codes(tmp_path, build) == []


def test_a_status_formula_not_yet_filled_counts(tmp_path):
    # An empty table row: its status formula shows nothing, and neither does the colour.
    def build(wb):
        ws = wb.add_worksheet("Log")
        ws.write_row("A1", ["Row", "We did", "Still to do"])
        ws.write("A2", 1)
        ws.write_formula("C2", '=IF(COUNTA(B2)=0,"","✓ Done")', None, "")
        _flagged(wb, ws, "B2:B2", '=AND(COUNTA($B2)>0,$B2="")')

    assert codes(tmp_path, build) == []


@pytest.mark.parametrize(
    ("cells", "criteria", "expected"),
    [
        ({"B1": "Late"}, '=$B1="Late"', []),  # the coloured cell holds the word
        ({"A1": "Late", "B1": 3}, '=$A1="Late"', []),  # colour follows a word in the row
        ({"A1": 3, "B1": 7}, "=$B1>5", ["a11y.colour_only"]),  # "too many" only in colour
    ],
)
def test_colour_beside_words(tmp_path, cells, criteria, expected):
    def build(wb):
        ws = wb.add_worksheet("Returns")
        for ref, value in cells.items():
            ws.write(ref, value)
        _flagged(wb, ws, "B1", criteria)

    assert codes(tmp_path, build) == expected


def test_a_colour_scale_repeats_the_numbers_shown(tmp_path):
    def build(wb):
        ws = wb.add_worksheet("Counts")
        ws.write_row("A1", [1, 5, 9])
        ws.conditional_format("A1:C1", {"type": "3_color_scale", "max_color": "#9DC3E6"})

    assert codes(tmp_path, build) == []


# --- a11y.no_label, a11y.reading_order ---------------------------------------------------


def _form(cells: dict[str, Any], answers: list[str], protect: bool = True) -> Build:
    def build(wb):
        ws = wb.add_worksheet("Form")
        answer = wb.add_format({"locked": False, "bg_color": "#FFF2CC"})
        for ref, value in cells.items():
            if isinstance(value, str) and value.startswith("="):
                ws.write_formula(ref, value, None, "Still needed")
            else:
                ws.write(ref, value)
        for ref in answers:
            ws.write_blank(ref, None, answer)
        if protect:
            ws.protect()

    return build


@pytest.mark.parametrize(
    ("cells", "answers", "expected"),
    [
        ({"A2": "Your role", "C2": '=IF(B2="","Still needed","✓ Done")'}, ["B2"], []),
        ({"B1": "What we did", "A2": 1, "A3": 2}, ["B2", "B3"], []),  # a table's heading
        ({"C2": "Your role"}, ["B2"], ["a11y.reading_order"]),  # label after the answer
        ({"A1": "Form"}, ["B2"], ["a11y.no_label"]),
        (
            {"A2": "Your role", "B2": '=IF(C2="","Still needed","✓ Done")'},
            ["C2"],
            ["a11y.reading_order"],  # the status is read before the answer
        ),
    ],
)
def test_answers_follow_their_labels(tmp_path, cells, answers, expected):
    assert codes(tmp_path, _form(cells, answers)) == expected


def test_unprotected_sheets_have_no_answer_cells(tmp_path):
    assert codes(tmp_path, _form({"A1": "Form"}, ["B2"], protect=False)) == []


def test_findings_are_grouped_per_column(tmp_path):
    found = codes(tmp_path, _form({"A1": "Form"}, ["B2", "B3", "B4", "C2"]))
    assert found == ["a11y.no_label", "a11y.no_label"]


# --- the finding -------------------------------------------------------------------------


def test_a_finding_is_a_value_with_a_criterion():
    f = Finding("a11y.contrast", "Matrix", "B2", "Text is too faint.")
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.code = "x"  # type: ignore[misc]
    assert f.criterion == "1.4.3 Contrast (Minimum)"
    assert (
        str(f)
        == "Matrix, cell B2: Text is too faint. [a11y.contrast, WCAG 1.4.3 Contrast (Minimum)]"
    )
    assert str(Finding("a11y.alt_text", "Dashboard", "Chart 1", "No alt text.")).startswith(
        "Dashboard, Chart 1: "
    )
    assert all(code.startswith("a11y.") for code in CRITERIA)


# --- every workbook the tool writes ------------------------------------------------------


@pytest.fixture(scope="module")
def demo_outputs(tmp_path_factory) -> tuple[Path, list[Path]]:
    """One demo cycle (without the LibreOffice re-save, which only adds a return)."""
    root = tmp_path_factory.mktemp("a11y") / "demo"
    run_demo(root, libreoffice=False)
    paths = [*(root / "outbox").rglob("*.xlsx"), *(root / "reports").rglob("*.xlsx")]
    return root, sorted(paths)


def test_the_demo_writes_every_kind_of_workbook(demo_outputs):
    root, paths = demo_outputs
    names = {p.relative_to(root).as_posix() for p in paths}
    assert {"reports/register.xlsx", "reports/compliance.xlsx"} <= names
    assert any(n.startswith("reports/feedback/") for n in names)
    assert sum(n.startswith("outbox/") for n in names) >= 12


def test_every_workbook_the_tool_writes_is_accessible(demo_outputs):
    root, paths = demo_outputs
    found = [f"{p.relative_to(root)}: {f}" for p in paths for f in check_workbook(p)]
    assert not found, f"{len(found)} accessibility finding(s):\n" + "\n".join(found)
