"""The return reader: one small test per behaviour, inputs built inline, no binary fixtures."""

from __future__ import annotations

import io
import os
import time
import zipfile
from pathlib import Path

import pytest
import xlsxwriter
from hostile_corpus import edited

from participation_xl.read import ReadProblem, read_many, read_workbook


def _book(path: Path, fill=None) -> Path:
    wb = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False})
    ws = wb.add_worksheet("Form")
    ws.write_string("A1", "Label")
    ws.write_number("B2", 12)
    ws.write_datetime(
        "B3", __import__("datetime").date(2027, 3, 31), wb.add_format({"num_format": "dd/mm/yyyy"})
    )
    ws.write_boolean("B4", True)
    ws.write_formula("B5", "=1+1", None, 2)
    wb.define_name("answer.one", "=Form!$B$2")
    hidden = wb.add_worksheet("_meta")
    hidden.write_string("A1", "form")
    hidden.very_hidden()
    wb.set_custom_property("participation-xl form", "audit")
    if fill:
        fill(wb, ws)
    wb.close()
    return path


def _rezip(src: Path, dest: Path, change) -> Path:
    dest.write_bytes(edited(src.read_bytes(), change))
    return dest


def _problem(path: Path) -> str:
    with pytest.raises(ReadProblem) as info:
        read_workbook(path, 50, 10)
    return info.value.code


def test_values_of_each_kind_and_formulas_with_cached_values(tmp_path):
    raw = read_workbook(_book(tmp_path / "a.xlsx"), 50, 10)
    cells = raw.cells["Form"]
    assert cells[(1, 1)].value == "Label" and cells[(1, 1)].kind == "s"
    assert cells[(2, 2)].value == 12 and cells[(2, 2)].kind == "n"
    assert cells[(3, 2)].is_date_format and cells[(3, 2)].value == 46477
    assert cells[(4, 2)].value is True
    assert cells[(5, 2)].formula == "1+1" and cells[(5, 2)].value == 2


def test_names_sheet_states_properties_and_protection(tmp_path):
    def protect(wb, ws):
        ws.protect()

    raw = read_workbook(_book(tmp_path / "a.xlsx", protect), 50, 10)
    assert raw.defined_names == {"answer.one": "Form!$B$2"}
    assert [(s.name, s.state, s.protected) for s in raw.sheets] == [
        ("Form", "visible", True),
        ("_meta", "veryHidden", False),
    ]
    assert raw.custom_properties == {"participation-xl form": "audit"}
    assert raw.format == "xlsx" and not raw.flags


def test_boxes_limit_sheets_and_cells(tmp_path):
    raw = read_workbook(_book(tmp_path / "a.xlsx"), 0, 0, boxes={"Form": (2, 1)})
    assert list(raw.cells) == ["Form"] and list(raw.cells["Form"]) == [(1, 1)]


def test_a_cell_at_xfd1048576_is_skipped_quickly(tmp_path):
    path = _book(tmp_path / "far.xlsx", lambda wb, ws: ws.write_string(1048575, 16383, "far away"))
    start = time.perf_counter()
    raw = read_workbook(path, 50, 10)
    assert time.perf_counter() - start < 1
    assert (1048576, 16384) not in raw.cells["Form"]
    results = dict(read_many([str(path)], 50, 10, workers=2))
    assert not isinstance(results[str(path)], ReadProblem)


def test_a_row_of_16384_cells_is_read_within_the_box(tmp_path):
    path = _book(tmp_path / "wide.xlsx", lambda wb, ws: ws.write_row(9, 0, ["x"] * 16384))
    assert len(read_workbook(path, 50, 10).cells["Form"]) == 5 + 10


LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>&lol2;</t></si></sst>'
)
XXE = (
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b'<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">&xxe;</workbook>'
)


@pytest.mark.parametrize("part,data", [("xl/sharedStrings.xml", LAUGHS), ("xl/workbook.xml", XXE)])
def test_entity_attacks_are_refused(tmp_path, part, data):
    src = _book(tmp_path / "a.xlsx")
    bad = _rezip(src, tmp_path / "bad.xlsx", lambda parts: parts.__setitem__(part, data))
    assert _problem(bad) == "xml_attack"


def test_a_decompression_bomb_is_refused(tmp_path):
    src = _book(tmp_path / "a.xlsx")
    zeros = b"<" + b"0" * (40 * 1024 * 1024)
    bomb = _rezip(
        src, tmp_path / "bomb.xlsx", lambda p: p.__setitem__("xl/worksheets/sheet1.xml", zeros)
    )
    assert bomb.stat().st_size < 1024 * 1024
    assert _problem(bomb) == "too_large"


@pytest.mark.parametrize(
    "data,code",
    [
        (b"", "empty"),
        (b"team_id,answer\nT1,yes\n", "csv"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "not_a_workbook"),
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + "EncryptionInfo".encode("utf-16-le") + bytes(600),
            "encrypted",
        ),
    ],
)
def test_files_that_are_not_workbooks_say_what_they_are(tmp_path, data, code):
    path = tmp_path / "x.xlsx"
    path.write_bytes(data)
    assert _problem(path) == code


def test_a_truncated_file_is_truncated(tmp_path):
    data = _book(tmp_path / "a.xlsx").read_bytes()
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(data[: len(data) // 2])
    assert _problem(cut) == "truncated"


def test_macros_links_and_connections_are_flagged(tmp_path):
    def active(parts):
        parts["xl/vbaProject.bin"] = b"not a real project"
        parts["xl/externalLinks/externalLink1.xml"] = b"<externalLink/>"
        parts["xl/connections.xml"] = b"<connections/>"

    path = _rezip(_book(tmp_path / "a.xlsx"), tmp_path / "active.xlsx", active)
    assert read_workbook(path, 50, 10).flags == {"macros", "external_links", "data_connections"}


def test_read_many_reads_every_file_and_reports_problems_per_file(tmp_path):
    good = _book(tmp_path / "good.xlsx")
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"")
    results = dict(read_many([str(good), str(bad)] * 3, 50, 10, workers=2))
    assert set(results) == {str(good), str(bad)}
    assert results[str(bad)].code == "empty"


def _crash(path, result):
    # Like examine: a ReadProblem (what a crash becomes) is answered without parsing.
    if isinstance(result, ReadProblem):
        return result
    if path.endswith("crash.xlsx"):
        os.abort()  # what python-calamine does on some hostile files
    return "ok"


def _hang(path, result):
    if isinstance(result, ReadProblem):
        return result
    if path.endswith("hang.xlsx"):
        time.sleep(60)
    return "ok"


def test_a_crashing_or_hanging_file_costs_only_that_file(tmp_path):
    paths = [str(_book(tmp_path / f"{n}.xlsx")) for n in ("a", "crash", "b")]
    crashed = dict(read_many(paths, 50, 10, then=_crash, workers=2, timeout=20))
    assert crashed[paths[0]] == "ok" and crashed[paths[2]] == "ok"
    assert isinstance(crashed[paths[1]], ReadProblem) and crashed[paths[1]].code == "crashed"
    hang = str(_book(tmp_path / "hang.xlsx"))
    start = time.perf_counter()
    hung = dict(read_many([paths[0], hang], 50, 10, then=_hang, workers=2, timeout=2))
    assert hung[paths[0]] == "ok" and hung[hang].code == "timeout"
    assert time.perf_counter() - start < 20


MANIFEST = (
    b'<?xml version="1.0"?><manifest:manifest '
    b'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
    b'<manifest:file-entry manifest:full-path="/" '
    b'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
    b'<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
    b"</manifest:manifest>"
)


def test_an_ods_is_read_through_calamine(tmp_path):
    content = (
        b'<?xml version="1.0" encoding="UTF-8"?><office:document-content '
        b'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        b'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        b'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        b'<office:body><office:spreadsheet><table:table table:name="Form"><table:table-row>'
        b'<table:table-cell office:value-type="string"><text:p>Label</text:p></table:table-cell>'
        b"</table:table-row></table:table></office:spreadsheet></office:body></office:document-content>"
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet", zipfile.ZIP_STORED)
        z.writestr("content.xml", content)
        z.writestr("META-INF/manifest.xml", MANIFEST)
    path = tmp_path / "a.ods"
    path.write_bytes(buf.getvalue())
    results = dict(read_many([str(path)], 50, 10, workers=1))
    raw = results[str(path)]
    assert raw.format == "ods" and raw.cells["Form"][(1, 1)].value == "Label"


def test_the_fast_and_the_careful_reader_give_the_same_results(tmp_path):
    """Workers read plain sheets with calamine, anything else (and the coordinator's own
    reads) with lxml: over good returns and every hostile case, both say the same."""
    import datetime as dt

    from hostile_corpus import build

    from participation_xl import init_workspace
    from participation_xl.examine import Context, examine, examine_files

    ws = init_workspace(tmp_path / "ws", "Council", "2026-27", dt.date(2027, 3, 31))
    build(ws, ws.returns_dir)
    ctx = Context.of(ws)
    files = sorted(str(p) for p in ws.returns_dir.rglob("*") if p.is_file())
    in_workers = examine_files(ctx, files)
    readers = dict(read_many(files, 0, 0, boxes=ctx.boxes, workers=2))
    fast = [f for f, raw in readers.items() if getattr(raw, "reader", "") == "calamine"]
    assert len(fast) >= 10  # the good returns and most hostile ones take the fast path
    for path in files:
        try:
            raw = read_workbook(path, 0, 0, ctx.boxes)
            assert raw.reader == "lxml"  # outside a worker, calamine never runs
        except ReadProblem as problem:
            raw = problem
        careful, quick = examine(raw, "", ctx), in_workers[path]
        assert (careful.outcome, careful.code, careful.document, careful.issues) == (
            quick.outcome,
            quick.code,
            quick.document,
            quick.issues,
        ), path


def test_both_readers_place_cells_the_same_when_a1_is_empty(tmp_path):
    def far_from_a1(wb, ws):
        ws.write_string(2, 2, "C3")
        ws.write_number(4, 3, 7)

    path = tmp_path / "offset.xlsx"
    wb = xlsxwriter.Workbook(path)
    far_from_a1(wb, wb.add_worksheet("Form"))
    wb.close()
    careful = read_workbook(path, 50, 10).cells["Form"]
    [(_, quick)] = read_many([str(path)], 50, 10, workers=1)
    assert quick.reader == "calamine"
    assert {k: v.value for k, v in careful.items()} == {(3, 3): "C3", (5, 4): 7}
    assert {k: v.value for k, v in quick.cells["Form"].items()} == {(3, 3): "C3", (5, 4): 7}
