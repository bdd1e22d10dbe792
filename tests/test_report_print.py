"""The consolidated workbooks on paper: the demo's register.xlsx and compliance.xlsx,
rendered to PDF by LibreOffice, measured with pdfplumber (tests/render.py)."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
import render

from participation_xl.demo import run_demo

MIN_PT = 8.0
BOOKS = ("register.xlsx", "compliance.xlsx")


@pytest.fixture(scope="module")
def printed(libreoffice, tmp_path_factory) -> dict[str, tuple[Path, render.Printed]]:
    why = render.pdfplumber_missing()
    if why:
        pytest.fail(why)
    root = tmp_path_factory.mktemp("report-print") / "demo"
    run_demo(root, libreoffice=False)
    out = {}
    for name in BOOKS:
        xlsx = root / "reports" / name
        pdf = xlsx.with_suffix(".pdf")
        libreoffice.call("to_pdf", path=str(xlsx), out=str(pdf))
        out[name] = (xlsx, render.read_pdf(pdf))
        keep = render.keep_pdfs()
        if keep:
            (keep / f"demo-{pdf.name}").write_bytes(pdf.read_bytes())
    return out


@pytest.mark.parametrize("book", BOOKS)
def test_every_printed_page_of_the_reports_is_legible(printed, book):
    _, p = printed[book]
    small = {n: round(s, 2) for n, s in enumerate(p.page_sizes, 1) if s < MIN_PT}
    print(f"\n{book}: {len(p.page_sizes)} pages, smallest text {p.smallest_pt:.2f} pt")
    assert p.page_sizes
    assert not small, f"{book}: pages with text under {MIN_PT} pt (page: pt): {small}"


@pytest.mark.parametrize("book", BOOKS)
def test_every_sheet_prints_its_title_and_what_it_counts(printed, book):
    xlsx, p = printed[book]
    text = render.words(p.text)
    for sheet in openpyxl.load_workbook(xlsx):
        title, note = sheet["A1"].value, sheet["A2"].value
        assert title and note, f"{book} {sheet.title}: no title and note"
        for line in (title, note):
            want = render.words(line)
            assert _contains(text, want), f"{book} {sheet.title}: '{line}' does not print"


def _contains(words: list[str], want: list[str]) -> bool:
    n = len(want)
    return any(words[i : i + n] == want for i in range(len(words) - n + 1))


def test_the_wide_audit_prints_at_full_size_over_pages_with_the_team_repeated(printed):
    xlsx, p = printed["register.xlsx"]
    sheet = openpyxl.load_workbook(xlsx)["Audit"]
    assert sheet.print_title_cols == "$A:$B"  # team id and name on every page
    assert sheet.print_title_rows == "$4:$4"  # the questions on every page
    fit = sheet.sheet_properties.pageSetUpPr
    assert fit is None or not fit.fitToPage  # not squeezed onto one page wide
    assert p.text.count("Audit, page") >= 10  # the footer of each of its pages


def test_trace_columns_stay_off_the_printed_matrix(printed):
    xlsx, p = printed["compliance.xlsx"]
    sheet = openpyxl.load_workbook(xlsx)["Matrix"]
    heads = [c.value for c in sheet[4]]
    area = sheet.print_area.split("!")[-1]
    last = openpyxl.utils.column_index_from_string(area.split(":")[1].split("$")[1])
    assert {"File", "SHA-256 (first 12)", "Received (UTC)"} <= set(heads)
    assert not {"File", "SHA-256 (first 12)", "Received (UTC)"} & set(heads[:last])
    col = heads.index("SHA-256 (first 12)") + 1
    shas = [sheet.cell(r, col).value for r in range(5, sheet.max_row + 1)]
    shas = [v for v in shas if v]
    assert shas and not any(v in p.text for v in shas)
