"""The compliance Trend with three cycles on paper: one page wide, legible (no text under
8 pt when LibreOffice prints it), every cycle's heading and "No returns" printed."""

from __future__ import annotations

import openpyxl
import pytest
import render
from test_report import AFTER_DUE, _doc, _standards_doc, _submit

from participation_xl.report import write_reports

MIN_PT = 8.0


def test_a_three_cycle_trend_prints_legibly_on_a4(libreoffice, workspace):
    why = render.pdfplumber_missing()
    if why:
        pytest.fail(why)
    ws = workspace
    for cycle in ("2024-25", "2025-26"):
        for team in ("EH01", "SW02"):
            doc = _doc(ws, team, "audit") | {"cycle": cycle}
            _submit(ws, team, "audit", doc, cycle=cycle, name=f"{cycle}-{team}.xlsx")
    _submit(ws, "ADV1", "six-standards", _standards_doc(ws))
    write_reports(ws, today=AFTER_DUE)
    xlsx = ws.reports_dir / "compliance.xlsx"
    book = openpyxl.load_workbook(xlsx)
    for sheet in book.sheetnames:  # print the Trend alone
        if sheet != "Trend":
            book[sheet].sheet_state = "hidden"
    book.active = book.sheetnames.index("Trend")
    alone = ws.root / "trend.xlsx"
    book.save(alone)
    pdf = alone.with_suffix(".pdf")
    libreoffice.call("to_pdf", path=str(alone), out=str(pdf))
    printed = render.read_pdf(pdf)
    keep = render.keep_pdfs()
    if keep:
        (keep / "trend-three-cycles.pdf").write_bytes(pdf.read_bytes())
    assert printed.page_sizes and printed.smallest_pt >= MIN_PT, printed.page_sizes
    for heading in ("2024-25", "2025-26", "2026-27", "Change"):
        assert heading in printed.text
    assert "No returns" in printed.text  # no Six Standards review in the earlier cycles
    setup = openpyxl.load_workbook(xlsx)["Trend"].sheet_properties.pageSetUpPr
    assert setup is not None and setup.fitToPage  # one page wide: the measures run down
