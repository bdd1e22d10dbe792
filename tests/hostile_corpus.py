"""A corpus of bad returns, made from a workspace's own generated workbooks.

Built fresh from the templates (so it stays current with the pack), each case with the
outcome and reason code `collect` must record. Run as a script to write one to a folder:

    python tests/hostile_corpus.py OUT_DIR
"""

from __future__ import annotations

import datetime as dt
import io
import random
import re
import shutil
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import openpyxl

from participation_xl import init_workspace
from participation_xl.generate import generate, issued_form
from participation_xl.sample import fill_workbook, sample_answers
from participation_xl.workspace import Workspace


@dataclass(frozen=True)
class Case:
    name: str  # the file name, saying what it reproduces
    outcome: str  # accepted | rejected | pending | ignored | duplicate
    codes: frozenset[str]  # acceptable catalogue codes (file code, or an issue code if accepted)
    team: str = ""  # for accepted cases: the team it must be recorded for


def _case(name: str, outcome: str, *codes: str, team: str = "") -> Case:
    return Case(name, outcome, frozenset(codes), team)


def parts_of(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: z.read(n) for n in z.namelist()}


def zip_of(parts: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)
    return buf.getvalue()


def edited(data: bytes, change: Callable[[dict[str, bytes]], None]) -> bytes:
    parts = parts_of(data)
    change(parts)
    return zip_of(parts)


def _sheet_part(parts: dict[str, bytes], sheet: str) -> str:
    """The zip part of a sheet, by its name in workbook.xml and the workbook's relationships."""
    book = parts["xl/workbook.xml"].decode()
    rid = re.search(rf'<sheet [^>]*name="{re.escape(sheet)}"[^>]*r:id="(rId\d+)"', book).group(1)
    rels = parts["xl/_rels/workbook.xml.rels"].decode()
    target = re.search(rf'Id="{rid}"[^>]*Target="([^"]+)"|Target="([^"]+)"[^>]*Id="{rid}"', rels)
    return "xl/" + (target.group(1) or target.group(2)).lstrip("/").removeprefix("xl/")


def _append_rows(parts: dict[str, bytes], sheet: str, xml: bytes) -> None:
    name = _sheet_part(parts, sheet)
    parts[name] = parts[name].replace(b"</sheetData>", xml + b"</sheetData>", 1)


LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    b"<si><t>&lol3;</t></si></sst>"
)
QUADRATIC = (
    b'<?xml version="1.0"?><!DOCTYPE q [<!ENTITY a "' + b"A" * 50000 + b'">]>'
    b'<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    + b"&a;" * 2000
    + b"</workbook>"
)
XXE = (
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    b'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&xxe;</t></is></c></row>'
    b"</sheetData></worksheet>"
)


def build(ws: Workspace, dest: Path) -> tuple[list[Case], dict[str, str]]:
    """Write the corpus into `dest` (a returns folder). Returns the cases, and the good
    returns written beside them (file name -> team id) that must still be collected."""
    issued = {issued_form(ws, p): p for p in generate(ws)}
    forms = ws.pack.forms

    def filled(team: str, form: str, seed: int = 1, edit: Callable | None = None) -> bytes:
        answers = sample_answers(forms[form], random.Random(seed))
        if edit:
            edit(answers)
        tmp = dest.parent / f".build-{team}-{form}-{seed}.xlsx"
        fill_workbook(issued[(team, form)], tmp, answers, forms[form])
        data = tmp.read_bytes()
        tmp.unlink()
        return data

    good = {"good EH01 audit.xlsx": "EH01", "good ADV1 six-standards.xlsx": "ADV1"}
    (dest / "good EH01 audit.xlsx").write_bytes(filled("EH01", "audit"))
    (dest / "good ADV1 six-standards.xlsx").write_bytes(filled("ADV1", "six-standards"))
    valid = filled("SW02", "audit", seed=3)
    cases: list[Case] = []

    def put(case: Case, data: bytes) -> None:
        (dest / case.name).write_bytes(data)
        cases.append(case)

    # --- not a workbook
    put(_case("zero-byte.xlsx", "rejected", "read.empty"), b"")
    put(
        _case("not-a-zip.xlsx", "rejected", "read.not_a_workbook"),
        b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8,
    )
    for pct in (10, 50, 90):
        put(
            _case(f"truncated-at-{pct}pct.xlsx", "pending", "read.truncated"),
            valid[: len(valid) * pct // 100],
        )
    flipped = bytearray(valid)
    for i in range(400, len(flipped) - 2000, 997):
        flipped[i] ^= 0x55
    put(
        _case(
            "bit-flipped.xlsx",
            "rejected|pending",
            "read.bad_xml",
            "read.truncated",
            "read.unreadable",
            "read.no_workbook_part",
        ),
        bytes(flipped),
    )
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    put(
        _case("password-encrypted-cdfv2.xlsx", "rejected", "read.encrypted"),
        ole + bytes(500) + "EncryptionInfo".encode("utf-16-le") + bytes(4000),
    )
    put(
        _case("legacy-garbage.xls", "rejected", "read.unreadable", "read.not_a_workbook"),
        ole + random.Random(1).randbytes(6000),
    )
    put(_case("csv-renamed.xlsx", "rejected", "read.csv"), b"team_id,answer\nSW02,yes\nSW02,no\n")
    put(
        _case("libreoffice-ods-not-our-template.ods", "rejected", "identify.no_identity"),
        _plain_ods(),
    )
    # --- XML attacks
    put(
        _case("billion-laughs-sharedstrings.xlsx", "rejected", "read.xml_attack"),
        # An issued workbook (XlsxWriter) has a shared strings part the workbook points at.
        edited(
            issued[("SW02", "audit")].read_bytes(),
            lambda p: p.__setitem__("xl/sharedStrings.xml", LAUGHS),
        ),
    )
    put(
        _case("billion-laughs-workbook.xlsx", "rejected", "read.xml_attack"),
        edited(valid, lambda p: p.__setitem__("xl/workbook.xml", LAUGHS)),
    )
    put(
        _case("quadratic-blowup-workbook.xlsx", "rejected", "read.xml_attack"),
        edited(valid, lambda p: p.__setitem__("xl/workbook.xml", QUADRATIC)),
    )
    put(
        _case("xxe-local-file.xlsx", "rejected", "read.xml_attack"),
        edited(valid, lambda p: p.__setitem__(_sheet_part(p, "About the team"), XXE)),
    )
    # --- oversize
    put(
        _case("decompression-bomb.xlsx", "rejected", "read.too_large"),
        edited(
            valid, lambda p: p.__setitem__(_sheet_part(p, "Action plan"), b"<" + bytes(40 << 20))
        ),
    )
    merges = b"".join(b'<mergeCell ref="Z%d:AA%d"/>' % (r, r) for r in range(1, 5001))
    put(
        _case("merged-cell-bomb.xlsx", "accepted", "", team="SW02"),
        edited(
            valid,
            lambda p: p.__setitem__(
                _sheet_part(p, "Taking part"),
                re.sub(
                    rb"<mergeCells[^>]*>.*?</mergeCells>|<mergeCells[^>]*/>",
                    b"",
                    p[_sheet_part(p, "Taking part")],
                ).replace(
                    b"</sheetData>",
                    b'</sheetData><mergeCells count="5000">' + merges + b"</mergeCells>",
                    1,
                ),
            ),
        ),
    )
    put(
        _case("cell-at-XFD1048576.xlsx", "accepted", "", team="SW02"),
        edited(
            valid,
            lambda p: _append_rows(
                p,
                "Action plan",
                b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>far</t></is></c></row>',
            ),
        ),
    )
    wide = (
        b'<row r="900">'
        + b"".join(b'<c t="inlineStr"><is><t>x</t></is></c>' for _ in range(16384))
        + b"</row>"
    )
    put(
        _case("row-of-16384-cells.xlsx", "accepted", "", team="SW02"),
        edited(valid, lambda p: _append_rows(p, "Action plan", wide)),
    )
    put(
        _case("text-over-32767.xlsx", "accepted", "answer.excel_limit", team="ADV1"),
        edited(
            filled(
                "ADV1",
                "six-standards",
                seed=5,
                edit=lambda a: a["budget"].update(budget_notes="LONGTEXT"),
            ),
            lambda p: _replace_all(p, b"LONGTEXT", b"y" * 40000),
        ),
    )
    # --- active content
    put(
        _case("macro-vbaproject.xlsm", "accepted", "content.macros", team="SW02"),
        edited(valid, lambda p: p.__setitem__("xl/vbaProject.bin", ole + bytes(600))),
    )
    put(
        _case("macro-renamed.xlsx", "accepted", "content.macros", team="SW02"),
        edited(
            filled("SW02", "audit", seed=4),
            lambda p: p.__setitem__("xl/vbaProject.bin", ole + bytes(600)),
        ),
    )
    put(
        _case("external-links.xlsx", "accepted", "content.external_links", team="SW02"),
        edited(
            filled("SW02", "audit", seed=5),
            lambda p: p.__setitem__(
                "xl/externalLinks/externalLink1.xml",
                b'<externalLink xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"/>',
            ),
        ),
    )
    put(
        _case("data-connections.xlsx", "accepted", "content.data_connections", team="SW02"),
        edited(
            filled("SW02", "audit", seed=6),
            lambda p: p.__setitem__(
                "xl/connections.xml",
                b'<connections xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"/>',
            ),
        ),
    )
    put(
        _case("dde-formula-in-answer.xlsx", "accepted", "content.dde", team="ADV1"),
        filled(
            "ADV1",
            "six-standards",
            seed=7,
            edit=lambda a: a["contract"].update(service_name="=cmd|' /c calc'!A0"),
        ),
    )
    lying = filled(
        "ADV1",
        "six-standards",
        seed=8,
        edit=lambda a: a["standards"]["feedback"].update(rating="=1+1"),
    )
    put(
        _case("formula-with-lying-cached-value.xlsx", "accepted", "content.formula", team="ADV1"),
        edited(lying, lambda p: _replace_all(p, b"<f>1+1</f><v></v>", b"<f>1+1</f><v>Met</v>")),
    )
    # --- tampering
    put(
        _case("identity-edited.xlsx", "rejected", "identify.bad_signature"),
        edited(valid, lambda p: _replace_all(p, b">SW02<", b">EH01<")),
    )
    put(
        _case("signature-copied-into-another-team.xlsx", "accepted", "", team="EH01"),
        _copied_identity(issued, forms, dest),
    )
    put(
        _case("rows-inserted-answers-moved.xlsx", "rejected", "identify.moved"),
        _rows_inserted(issued[("SW02", "audit")], dest),
    )
    put(
        _case("sheet-renamed.xlsx", "rejected", "identify.sheet_missing"),
        edited(valid, lambda p: _replace_all(p, b"Taking part", b"Taking part (2)")),
    )
    put(
        _case("another-cycles-template.xlsx", "rejected", "identify.other_cycle"),
        _other_cycle(ws, dest),
    )
    # --- shared-folder debris
    put(_case("~$good EH01 audit.xlsx", "ignored", "file.office_lock"), b"\x00" * 165)
    for name in (
        "good EH01 audit (1).xlsx",
        "good EH01 audit-DESKTOP-ABC.xlsx",
        "copy of good EH01 audit.xlsx",
    ):
        put(
            _case(name, "duplicate", "file.duplicate"), (dest / "good EH01 audit.xlsx").read_bytes()
        )
    put(
        _case("changing-during-scan.xlsx", "pending", "read.changing"),
        filled("SW02", "audit", seed=9),
    )
    return cases, good


def _plain_ods() -> bytes:
    """A real, minimal .ods spreadsheet that was never issued by the coordinator."""
    ns = (
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"'
    )
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ns} '
        'office:version="1.2"><office:body><office:spreadsheet><table:table '
        'table:name="Sheet1"><table:table-row><table:table-cell office:value-type="string">'
        "<text:p>our answers</text:p></table:table-cell></table:table-row></table:table>"
        "</office:spreadsheet></office:body></office:document-content>"
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet", zipfile.ZIP_STORED)
        z.writestr("content.xml", content)
        z.writestr(
            "META-INF/manifest.xml",
            (
                '<?xml version="1.0"?><manifest:manifest '
                'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
                '<manifest:file-entry manifest:full-path="/" '
                'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
                '<manifest:file-entry manifest:full-path="content.xml" '
                'manifest:media-type="text/xml"/>'
                "</manifest:manifest>"
            ),
        )
    return buf.getvalue()


def _replace_all(parts: dict[str, bytes], old: bytes, new: bytes) -> None:
    for name, data in parts.items():
        parts[name] = data.replace(old, new)


def _copied_identity(issued: dict, forms: dict, dest: Path) -> bytes:
    """Team SW02's workbook carrying team EH01's signed identity, copied across by hand."""
    source = openpyxl.load_workbook(issued[("EH01", "audit")])
    target = openpyxl.load_workbook(issued[("SW02", "audit")])
    for row in range(1, 8):
        target["_meta"].cell(row, 2).value = source["_meta"].cell(row, 2).value
    tmp = dest.parent / ".copied.xlsx"
    target.save(tmp)
    answers = sample_answers(forms["audit"], random.Random(11))
    fill_workbook(tmp, tmp, answers, forms["audit"])
    data = tmp.read_bytes()
    tmp.unlink()
    return data


def _rows_inserted(issued: Path, dest: Path) -> bytes:
    wb = openpyxl.load_workbook(issued)
    sheet = wb["About the team"]
    sheet.protection.sheet = False
    sheet.insert_rows(9, 3)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _other_cycle(ws: Workspace, dest: Path) -> bytes:
    """A workbook issued last cycle, with the same workspace secret."""
    old = init_workspace(dest.parent / ".last-cycle", ws.council, "2025-26", dt.date(2026, 3, 31))
    shutil.copy(ws.state_dir / "secret.key", old.state_dir / "secret.key")
    shutil.copy(ws.roster_path, old.roster_path)  # the secret is read lazily: the copy is used
    path = next(p for p in generate(old) if issued_form(old, p) == ("SW02", "audit"))
    return path.read_bytes()


if __name__ == "__main__":
    out = Path(sys.argv[1]).resolve()
    workspace = init_workspace(out / "workspace", "Corpus Council", "2026-27", dt.date(2027, 3, 31))
    built, _ = build(workspace, workspace.returns_dir)
    for case in built:
        print(f"{case.outcome:9} {','.join(sorted(case.codes)) or '-':40} {case.name}")
