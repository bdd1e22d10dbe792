"""Read returned workbooks safely and fast: only the parts and cells a form can use.

Returns are untrusted. openpyxl takes ~16 ms a file and hangs on a cell at XFD1048576;
python-calamine can abort the whole process on the same file. So .xlsx is read here with
zipfile and lxml, parsing only the workbook, styles, shared strings, properties and
sheets, keeping only cells inside the template's bounding box, with hard limits on sizes
and no DTDs at all (which defeats billion laughs, quadratic blowup and XXE). Every parse
runs in a worker process, so a crash or a hang costs one file, never the run.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import faulthandler
import functools
import gc
import html
import io
import itertools
import multiprocessing
import operator
import os
import re
import signal
import sys
import zipfile
import zlib
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, NamedTuple

from lxml import etree

from .place import position

MAX_MEMBERS = 2000
MAX_PART_BYTES = 16 * 1024 * 1024  # one part we parse, decompressed (a real one is < 1 MiB)
MAX_TOTAL_BYTES = 256 * 1024 * 1024  # every part we parse, decompressed
MAX_RATIO = 200  # compression ratio beyond which a large part is a bomb
MAX_LEGACY_BYTES = 20 * 1024 * 1024  # .xls and .ods handed to calamine
DOCTYPE_SCAN = 64 * 1024  # a DOCTYPE must come before the root element

NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
R_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
REL = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
OFFICE_DOC = "/officeDocument"
CODES = frozenset(
    {
        "empty",
        "not_a_workbook",
        "truncated",
        "encrypted",
        "csv",
        "too_large",
        "xml_attack",
        "bad_xml",
        "no_workbook_part",
        "timeout",
        "crashed",
        "unreadable",
    }
)
_DATE_IDS = set(range(14, 23)) | set(range(27, 37)) | set(range(45, 48)) | set(range(50, 59))
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


class Cell(NamedTuple):
    """One cell's value as stored. A tuple, as a return makes hundreds of them."""

    value: str | float | int | bool | None
    kind: str  # s | n | b | e | d | blank
    formula: str | None = None
    is_date_format: bool = False


@dataclass
class SheetInfo:
    name: str
    state: str = "visible"  # visible | hidden | veryHidden
    protected: bool = False


@dataclass
class RawWorkbook:
    path: str
    format: str  # xlsx | ods | xls
    sheets: list[SheetInfo] = field(default_factory=list)
    defined_names: dict[str, str] = field(default_factory=dict)
    custom_properties: dict[str, str] = field(default_factory=dict)
    cells: dict[str, Mapping[tuple[int, int], Cell]] = field(default_factory=dict)
    date1904: bool = False
    flags: frozenset[str] = frozenset()
    reader: str = "lxml"  # or "calamine": which way the cells were read


class ReadProblem(Exception):
    """A file we could not read. `code` is stable (see CODES); `detail` is for people."""

    def __init__(self, code: str, detail: str = "") -> None:
        if code not in CODES:
            raise ValueError(f"unknown read problem code {code!r}")
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail

    def __reduce__(self) -> tuple[Any, ...]:
        return (ReadProblem, (self.code, self.detail))


# --- sniffing ---------------------------------------------------------------------------


Boxes = dict[str, tuple[int, int]]  # sheet name -> (last row, last column) worth reading


def read_workbook(
    path: str | os.PathLike[str], max_row: int, max_col: int, boxes: Boxes | None = None
) -> RawWorkbook:
    """Read a return's cells inside the box (1..max_row, 1..max_col); raise ReadProblem.

    With `boxes`, only the named sheets are parsed, each within its own box: a form's
    sheets and its identity sheet are all a return needs.
    """
    try:
        return _read(str(path), max_row, max_col, boxes)
    except ReadProblem:
        raise
    except (EOFError, zipfile.LargeZipFile) as err:
        raise ReadProblem("truncated", str(err)) from err
    except zlib.error as err:
        raise ReadProblem("bad_xml", str(err)) from err
    except etree.LxmlError as err:
        raise ReadProblem("bad_xml", str(err)) from err
    except Exception as err:  # any other surprise in a hostile file is that file's problem
        raise ReadProblem("unreadable", f"{type(err).__name__}: {err}") from err


_IN_MEMORY_BYTES = 8 * 1024 * 1024


def _read(path: str, max_row: int, max_col: int, boxes: Boxes | None) -> RawWorkbook:
    with open(path, "rb") as fh:  # noqa: PTH123 (a plain handle is what zipfile wants)
        head = fh.read(8)
        if not head:
            raise ReadProblem("empty", "0 bytes")
        if head.startswith(b"PK"):
            try:
                fh.seek(0)
                # A return (~50 KB) is read whole, in one call: zipfile then reads every
                # part from memory, not with a seek and a read each. Big files are streamed.
                small = os.fstat(fh.fileno()).st_size <= _IN_MEMORY_BYTES
                with zipfile.ZipFile(io.BytesIO(fh.read()) if small else fh) as z:
                    return _from_zip(path, z, max_row, max_col, boxes)
            except zipfile.BadZipFile as err:
                # A bad checksum means damaged bytes, not a copy still arriving: no retry.
                code = "bad_xml" if "CRC" in str(err) else "truncated"
                raise ReadProblem(code, str(err)) from err
        if head == _OLE:
            fh.seek(0)
            data = fh.read(MAX_LEGACY_BYTES + 1)
            if "EncryptionInfo".encode("utf-16-le") in data:
                raise ReadProblem("encrypted", "a password-encrypted workbook")
            if len(data) > MAX_LEGACY_BYTES:
                raise ReadProblem("too_large", "a legacy workbook over 20 MiB")
            return _calamine(path, "xls", (max_row, max_col), boxes, {})
        fh.seek(0)
        if _looks_like_text(fh.read(4096)):
            raise ReadProblem("csv", "text, not a workbook")
    raise ReadProblem("not_a_workbook", "unknown content")


def _looks_like_text(data: bytes) -> bool:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            return False
    return bool(text) and all(ch.isprintable() or ch in "\r\n\t" for ch in text[:4000])


# --- zip safety -------------------------------------------------------------------------


class _Budget:
    """Counts decompressed bytes across the parts of one file."""

    def __init__(self) -> None:
        self.total = 0


def _check_members(z: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    infos = z.infolist()
    if len(infos) > MAX_MEMBERS:
        raise ReadProblem("too_large", f"{len(infos)} parts")
    for info in infos:
        if info.file_size > MAX_PART_BYTES or (
            info.file_size > 1024 * 1024 and info.file_size > MAX_RATIO * max(info.compress_size, 1)
        ):
            raise ReadProblem(
                "too_large", f"part {info.filename} inflates to {info.file_size} bytes"
            )
    return {i.filename: i for i in infos}


_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
)


def _bytes(z: zipfile.ZipFile, name: str, budget: _Budget) -> bytes:
    """One part's bytes, refusing DTDs and anything that inflates too far.

    The declared size can lie, so the part is read with a hard cap on what comes out.
    """
    with z.open(name) as raw:
        data = raw.read(MAX_PART_BYTES + 1)
    budget.total += len(data)
    if len(data) > MAX_PART_BYTES or budget.total > MAX_TOTAL_BYTES:
        raise ReadProblem("too_large", f"part {name} inflates past the limit")
    head = data[:DOCTYPE_SCAN]
    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
        raise ReadProblem("xml_attack", f"part {name} declares a DTD or entities")
    return data


def _load(z: zipfile.ZipFile, name: str, budget: _Budget) -> Any:
    """Parse one part whole (lxml, in C), after the checks in `_bytes`."""
    return etree.fromstring(_bytes(z, name, budget), _PARSER)


# --- xlsx -------------------------------------------------------------------------------
# Parts that every return of a form shares byte for byte (relationships, workbook, styles)
# are parsed once per process and the result reused: it depends on the bytes alone.

Rels = dict[str, tuple[str, str, str]]


def _rels(
    z: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], part: str, budget: _Budget
) -> Rels:
    """Relationships of a part: id -> (type, resolved target, target mode)."""
    folder, base = PurePosixPath(part).parent, PurePosixPath(part).name
    rels_name = str(folder / "_rels" / f"{base}.rels").lstrip("/") if part else "_rels/.rels"
    if rels_name not in members:
        return {}
    return dict(_parse_rels(str(folder), _bytes(z, rels_name, budget)))


@functools.lru_cache(maxsize=32)
def _parse_rels(folder: str, data: bytes) -> tuple[tuple[str, tuple[str, str, str]], ...]:
    out = []
    for el in etree.fromstring(data, _PARSER).iter(REL):
        target = el.get("Target", "")
        mode = el.get("TargetMode", "")
        resolved = (
            target.lstrip("/")
            if target.startswith("/")
            else os.path.normpath(str(PurePosixPath(folder) / target)).lstrip("./")
        )
        out.append((el.get("Id", ""), (el.get("Type", ""), resolved.replace("\\", "/"), mode)))
    return tuple(out)


def _from_zip(
    path: str, z: zipfile.ZipFile, max_row: int, max_col: int, boxes: Boxes | None
) -> RawWorkbook:
    members = _check_members(z)
    budget = _Budget()
    if (
        members.get("mimetype")
        and z.read("mimetype")[:100].strip() == b"application/vnd.oasis.opendocument.spreadsheet"
    ):
        return _ods(path, z, members, budget, (max_row, max_col), boxes)
    root_rels = _rels(z, members, "", budget)
    book = next((t for typ, t, _ in root_rels.values() if typ.endswith(OFFICE_DOC)), None)
    if not book or book not in members:
        if "EncryptedPackage" in members:
            raise ReadProblem("encrypted", "encrypted package")
        raise ReadProblem("no_workbook_part", "no workbook part")
    raw = RawWorkbook(path, "xlsx")
    book_rels = _rels(z, members, book, budget)
    sheet_parts = _workbook(z, book, budget, raw, book_rels)
    raw.custom_properties = _custom_props(z, members, budget)
    raw.flags = frozenset(_flags(members, book_rels))
    wanted: dict[str, tuple[bytes, int, int]] = {}
    for info in raw.sheets:
        part = sheet_parts.get(info.name)
        if boxes is not None and info.name not in boxes:
            continue
        rows, cols = boxes[info.name] if boxes is not None else (max_row, max_col)
        if part and part in members:
            data = _bytes(z, part, budget)
            wanted[info.name] = (data, rows, cols)
            info.protected = _protected(data)
    if _IN_WORKER and _by_calamine(path, z, members, book_rels, budget, wanted, raw):
        return raw
    strings = _strings(z, members, book_rels, budget)
    dates = _date_styles(z, members, book_rels, budget)
    for name, (data, rows, cols) in wanted.items():
        raw.cells[name] = _sheet(data, strings, dates, rows, cols)
    return raw


# --- the fast path: python-calamine (Rust) for the values, only ever inside a worker -----
# calamine reads a return in about a third of the time lxml takes, but can abort the whole
# process on a hostile file (a cell at XFD1048576, upstream issue 684). So it runs only in
# reader workers (where an abort costs one file, reported as "crashed"), and only on sheets
# whose bytes have been checked here first: every part it reads is inflated under the same
# caps as above, no cell lies beyond column ZZ or row 9999, every cell has its reference,
# and there are no error cells (whose codes it drops). Anything else is read with lxml.

_IN_WORKER = False
# What calamine should not see: a reference that is not plainly within ZZ9999 (far out,
# spelt with an entity, anything odd), a cell whose reference is not its first attribute,
# or an error cell. Three searches, each starting with a literal, take a quarter of the
# time of one search for all three.
_NOT_PLAIN = (
    re.compile(rb'r="(?![A-Z]{0,2}\d{1,4}")'),
    re.compile(rb'<c(?! r=")[\s>/]'),
    re.compile(rb't="e"'),
)
_FAR_DIMENSION = re.compile(rb'<dimension\b[^>]*\sref="[^"]*(?:[A-Z]{3}|\d{5})')
# A formula as Excel, LibreOffice and XlsxWriter write one: its cell's start, then the <f>.
_CELL_START = re.compile(rb'<c r="([A-Z]{1,2}\d{1,4})"[^>/]*>(?:<v>[^<]*</v>)?')
_FORMULA = re.compile(rb"<f\b[^>]*?(?:/>|>([^<]*)</f>)")
_BIG_COUNT = re.compile(rb'[cC]ount="\d{7}')


def _by_calamine(
    path: str,
    z: zipfile.ZipFile,
    members: dict[str, zipfile.ZipInfo],
    rels: Rels,
    budget: _Budget,
    wanted: dict[str, tuple[bytes, int, int]],
    raw: RawWorkbook,
) -> bool:
    """Fill raw.cells with calamine if every wanted sheet is plainly safe; else False."""
    formulas = {}
    for name, (data, rows, cols) in wanted.items():
        found = _formula_cells(data, rows, cols)
        if found is None:
            return False
        formulas[name] = found
    for kind in ("/sharedStrings", "/styles"):
        part = _related(rels, members, kind)
        data = _bytes(z, part, budget) if part else b""
        if _BIG_COUNT.search(data, 0, 4096) or b"<rPh" in data:
            return False  # a huge declared count (calamine would reserve room for it), or
            # phonetic guides, which lxml leaves out of the text and calamine may not
    try:
        from python_calamine import CalamineWorkbook

        book = CalamineWorkbook.from_path(path)
        try:
            for name, (_, rows, cols) in wanted.items():
                sheet = book.get_sheet_by_name(name)
                raw.cells[name] = CalamineCells(sheet, rows, cols, formulas[name])
        finally:
            book.close()
        raw.reader = "calamine"
    except Exception:  # whatever calamine refuses, lxml reads (or explains) below
        raw.cells.clear()
        return False
    return True


def _formula_cells(data: bytes, max_row: int, max_col: int) -> dict[tuple[int, int], str] | None:
    """Formula text by cell in the box, from the raw bytes; None if the sheet is not plain."""
    start, end = data.find(b"<sheetData"), data.rfind(b"</sheetData>")
    if start < 0 or end < start or not data.startswith(b"<") or _UTF8.match(data):
        return None  # no sheet data, a namespace prefix, or an encoding for lxml to handle
    if _FAR_DIMENSION.search(data, 0, start) or any(
        rx.search(data, start, end) for rx in _NOT_PLAIN
    ):
        return None
    out = {}
    at = data.find(b"<f", start, end)  # from one "<f" to the next: a file has ~100, in C
    while at >= 0:
        cell = _CELL_START.fullmatch(data, max(start, data.rfind(b"<c ", start, at)), at)
        formula = _FORMULA.match(data, at, end)
        if cell is None or formula is None:
            return None  # a formula written some other way (or rich text): let lxml find it
        where = position(cell.group(1).decode())
        if where and where[0] <= max_row and where[1] <= max_col:  # status formulas lie outside
            out[where] = html.unescape((formula.group(1) or b"").decode("utf-8"))
        at = data.find(b"<f", formula.end(), end)
    return out


def _workbook(
    z: zipfile.ZipFile, book: str, budget: _Budget, raw: RawWorkbook, rels: Rels
) -> dict[str, str]:
    sheets, names, raw.date1904 = _parse_workbook(_bytes(z, book, budget))
    parts = {}
    for name, state, rid in sheets:
        raw.sheets.append(SheetInfo(name, state))
        if rid in rels:
            parts[name] = rels[rid][1]
    raw.defined_names = dict(names)
    return parts


@functools.lru_cache(maxsize=32)
def _parse_workbook(
    data: bytes,
) -> tuple[tuple[tuple[str, str, str], ...], tuple[tuple[str, str], ...], bool]:
    root = etree.fromstring(data, _PARSER)
    sheets = tuple(
        (el.get("name", ""), el.get("state", "visible"), el.get(f"{R_NS}id", ""))
        for el in root.iter(f"{NS}sheet")
    )
    names = tuple(
        (el.get("name", ""), el.text or "")
        for el in root.iter(f"{NS}definedName")
        if el.get("localSheetId") is None and el.text
    )
    pr = root.find(f"{NS}workbookPr")
    return sheets, names, pr is not None and pr.get("date1904", "0") in ("1", "true")


def _related(rels: Rels, members: dict[str, zipfile.ZipInfo], kind: str) -> str | None:
    """The part a relationship of this kind points at, if it is really in the file."""
    part = next((t for typ, t, _ in rels.values() if typ.endswith(kind)), None)
    return part if part in members else None


class _Strings:
    """The shared strings, each turned into text only when a wanted cell uses it."""

    def __init__(self, items: list[Any]) -> None:
        self._items = items
        self._done: dict[int, str] = {}

    def get(self, idx: int) -> str:
        text = self._done.get(idx)
        if text is None:
            if not 0 <= idx < len(self._items):
                return ""
            si = self._items[idx]
            text = self._done[idx] = _unescape(
                "".join(t.text or "" for t in si.iter(_T) if _not_phonetic(t))
            )
        return text


_SI = etree.XPath("m:si", namespaces={"m": NS[1:-1]})


def _strings(
    z: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], rels: Rels, budget: _Budget
) -> _Strings:
    part = _related(rels, members, "/sharedStrings")
    return _Strings(_SI(_load(z, part, budget)) if part else [])


def _not_phonetic(t: Any) -> bool:
    parent = t.getparent()
    return parent is None or parent.tag != f"{NS}rPh"


def _unescape(text: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text) if "_x" in text else text


def _date_styles(
    z: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], rels: Rels, budget: _Budget
) -> tuple[bool, ...]:
    part = _related(rels, members, "/styles")
    return _parse_date_styles(_bytes(z, part, budget)) if part else ()


@functools.lru_cache(maxsize=32)
def _parse_date_styles(data: bytes) -> tuple[bool, ...]:
    root = etree.fromstring(data, _PARSER)
    custom = {
        int(f.get("numFmtId", "0")): _is_date_code(f.get("formatCode", ""))
        for f in root.iter(f"{NS}numFmt")
    }
    xfs = root.find(f"{NS}cellXfs")
    if xfs is None:
        return ()
    out = []
    for xf in xfs.iter(f"{NS}xf"):
        fid = int(xf.get("numFmtId", "0") or 0)
        out.append(custom.get(fid, fid in _DATE_IDS))
    return tuple(out)


def _is_date_code(code: str) -> bool:
    stripped = re.sub(r'"[^"]*"|\[[^\]]*\]|\\.', "", code)
    return bool(re.search(r"[dmyhs]", stripped, re.IGNORECASE)) and "General" not in stripped


def _custom_props(
    z: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], budget: _Budget
) -> dict[str, str]:
    if "docProps/custom.xml" not in members:
        return {}
    out = {}
    for prop in _load(z, "docProps/custom.xml", budget):
        name = prop.get("name")
        if name is not None and len(prop):
            out[name] = prop[0].text or ""
    return out


def _flags(members: dict[str, zipfile.ZipInfo], rels: Rels) -> set[str]:
    flags = set()
    names = [n.lower() for n in members]
    if any(n.endswith("vbaproject.bin") for n in names):
        flags.add("macros")
    if any(n.startswith("xl/externallinks/") for n in names) or any(
        typ.endswith("/externalLink") for typ, _, _ in rels.values()
    ):
        flags.add("external_links")
    if "xl/connections.xml" in names:
        flags.add("data_connections")
    return flags


# --- worksheets: parse the cell data only, make a Cell only for what is asked for --------

_FILLED = etree.XPath(
    "m:sheetData/m:row[not(@r) or @r <= $rows]/m:c[m:v or m:f or m:is]",
    namespaces={"m": NS[1:-1]},
)
_ROOT_TAG = re.compile(rb"<(?:([A-Za-z_][\w.-]*):)?worksheet\b[^>]*>")
_UTF8 = re.compile(rb"^\s*<\?xml[^>]*encoding=[\"'](?!utf-?8[\"'])", re.IGNORECASE)
_PROTECTED = re.compile(rb"<(?:[\w.-]+:)?sheetProtection\b[^>]*\bsheet=[\"'](?:1|true)[\"']")
_GET_R = operator.methodcaller("get", "r")


def _sheet_data(data: bytes) -> Any:
    """The worksheet with only its <sheetData>: validations and formatting, often half
    the bytes, are never parsed. Anything unusual (another encoding, no sheetData, XML
    that does not parse once cut) is parsed whole instead, as before."""
    root = _ROOT_TAG.search(data, 0, DOCTYPE_SCAN)
    if root and not _UTF8.match(data):
        prefix = root.group(1) + b":" if root.group(1) else b""
        start = data.find(b"<" + prefix + b"sheetData", root.end())
        close = b"</" + prefix + b"sheetData>"
        end = data.find(close, start)
        if start > 0 and end > 0:
            cut = root.group(0) + data[start : end + len(close)] + b"</" + prefix + b"worksheet>"
            with contextlib.suppress(etree.XMLSyntaxError):
                return etree.fromstring(cut, _PARSER)
    return etree.fromstring(data, _PARSER)


def _protected(data: bytes) -> bool:
    # <sheetProtection> comes after the cell data: only the tail is searched.
    return _PROTECTED.search(data, max(0, data.rfind(b"</sheetData>"))) is not None


def _sheet(
    data: bytes, strings: _Strings, dates: tuple[bool, ...], max_row: int, max_col: int
) -> SheetCells:
    filled = _FILLED(_sheet_data(data), rows=max_row)  # cells that hold something, in C
    refs = list(map(_GET_R, filled))
    places = [] if None in refs else list(map(position, refs))
    if not places or None in places:  # a cell with no usable reference: count instead
        places = [_position(el) for el in filled]
    by_place = {rc: el for rc, el in zip(places, filled, strict=True) if rc and rc[1] <= max_col}
    return SheetCells(by_place, strings, dates)


class _LazyCells(Mapping[tuple[int, int], Cell]):
    """A sheet's filled cells inside its box, by (row, column), each made when asked for.

    A return's sheets hold hundreds of labels and formulas that are never asked for;
    making a Cell only for the answers and labels that are read saves most of the work.
    `filled` says where something is (a dict or set, looked up in C): subclasses set it
    and say how to make a cell in `get`.
    """

    filled: Any

    def __getitem__(self, key: tuple[int, int]) -> Cell:
        cell = self.get(key)
        if cell is None:
            raise KeyError(key)
        return cell

    def __contains__(self, key: object) -> bool:
        return key in self.filled

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter(sorted(self.filled))

    def __len__(self) -> int:
        return len(self.filled)

    def __reduce__(self) -> tuple[Any, ...]:
        return (dict, (dict(self.items()),))  # lxml elements do not cross processes


class SheetCells(_LazyCells):
    """Cells read with lxml: each made from its element when asked for."""

    def __init__(self, by_place: dict[tuple[int, int], Any], strings: _Strings, dates: Any):
        self.filled, self._strings, self._dates = by_place, strings, dates

    def get(self, key: tuple[int, int], default: Any = None) -> Any:
        el = self.filled.get(key)
        return default if el is None else _cell(el, self._strings, self._dates)


def _position(el: Any) -> tuple[int, int]:
    ref = el.get("r")
    if ref:
        where = position(ref)
        if where:
            return where
    # No reference: the cell follows its left neighbour in the same row (Excel allows this).
    row_el = el.getparent()
    row = int(row_el.get("r") or row_el.getparent().index(row_el) + 1)
    return row, row_el.index(el) + 1


_V, _F, _IS, _T = f"{NS}v", f"{NS}f", f"{NS}is", f"{NS}t"


def _cell(el: Any, strings: _Strings, dates: tuple[bool, ...]) -> Cell:
    text = formula = inline = None
    for child in el:  # <f>, <v> and <is>, in one pass
        tag = child.tag
        if tag == _V:
            text = child.text
        elif tag == _F:
            formula = child.text or ""
        elif tag == _IS:
            inline = child
    t = el.get("t", "n")
    style = int(el.get("s") or 0)
    is_date = style < len(dates) and dates[style]
    if t == "inlineStr":
        value = (
            _unescape("".join(x.text or "" for x in inline.iter(_T))) if inline is not None else ""
        )
        return Cell(value, "s", formula, is_date)
    if text is None:
        return Cell(None, "blank", formula, is_date)
    if t == "s":
        return Cell(strings.get(int(text)), "s", formula, is_date)
    if t == "str":
        return Cell(_unescape(text), "s", formula, is_date)
    if t == "b":
        return Cell(text.strip() in ("1", "true"), "b", formula, is_date)
    if t in ("e", "d"):
        return Cell(text, t, formula, is_date)
    try:
        number = float(text)
    except ValueError:  # a malformed number: keep what it says, validation will object
        return Cell(text, "s", formula, is_date)
    integral = number.is_integer() and abs(number) < 2**53
    return Cell(int(number) if integral else number, "n", formula, is_date)


# --- ods and xls (python-calamine, only ever inside a worker) ------------------------------


def _ods(
    path: str,
    z: zipfile.ZipFile,
    members: dict[str, zipfile.ZipInfo],
    budget: _Budget,
    box: tuple[int, int],
    boxes: Boxes | None,
) -> RawWorkbook:
    for name in ("content.xml", "styles.xml", "meta.xml", "settings.xml"):
        if name in members:
            _load(z, name, budget)  # DTD and size checks before calamine sees it
    props = {}
    if "meta.xml" in members:
        key = "{urn:oasis:names:tc:opendocument:xmlns:meta:1.0}name"
        for el in _load(z, "meta.xml", budget).iter(
            "{urn:oasis:names:tc:opendocument:xmlns:meta:1.0}user-defined"
        ):
            props[el.get(key, "")] = el.text or ""
    return _calamine(path, "ods", box, boxes, props)


def _calamine(
    path: str, fmt: str, box: tuple[int, int], boxes: Boxes | None, props: dict[str, str]
) -> RawWorkbook:
    from python_calamine import CalamineWorkbook

    book = CalamineWorkbook.from_path(path)
    raw = RawWorkbook(path, fmt, custom_properties=props)
    states = {"Visible": "visible", "Hidden": "hidden", "VeryHidden": "veryHidden"}
    for meta in book.sheets_metadata:
        raw.sheets.append(
            SheetInfo(meta.name, states.get(str(meta.visible).split(".")[-1], "visible"))
        )
    for info in raw.sheets:
        if boxes is not None and info.name not in boxes:
            continue
        max_row, max_col = boxes[info.name] if boxes is not None else box
        raw.cells[info.name] = CalamineCells(book.get_sheet_by_name(info.name), max_row, max_col)
    return raw


class CalamineCells(_LazyCells):
    """Values read by calamine inside the box, each made into a Cell when asked for."""

    def __init__(
        self,
        sheet: Any,
        max_row: int,
        max_col: int,
        formulas: dict[tuple[int, int], str] | None = None,
    ) -> None:
        row0, col0 = sheet.start or (0, 0)  # these rows begin at the first used cell
        rows = sheet.to_python()[: max(0, max_row - row0)]
        width = max(0, max_col - col0)
        self._values = {
            (r, c): v
            for r, row in enumerate(rows, start=row0 + 1)
            for c, v in enumerate(row[:width], start=col0 + 1)
            if v is not None and v != ""
        }
        self._formulas = formulas or {}
        self.filled = self._values.keys() | self._formulas.keys() if formulas else self._values

    def get(self, key: tuple[int, int], default: Any = None) -> Any:
        value = self._values.get(key)
        if self._formulas and key in self._formulas:  # the formula matters, not its value
            cell = Cell(None, "blank") if value is None else _calamine_cell(value)
            return cell._replace(formula=self._formulas[key])
        if type(value) is str and "_x" not in value:  # most cells: plain text, made here
            return _tuple(Cell, (value, "s", None, False))
        return default if value is None else _calamine_cell(value)


_tuple = tuple.__new__  # makes a Cell without the generated __new__: the hot path


def _calamine_cell(value: Any) -> Cell:
    if type(value) is str:  # most cells: text
        return _tuple(Cell, (_unescape(value) if "_x" in value else value, "s", None, False))
    if isinstance(value, bool):
        return Cell(value, "b")
    if isinstance(value, float):
        integral = value.is_integer() and abs(value) < 2**53
        return Cell(int(value) if integral else value, "n")
    if isinstance(value, int):
        return Cell(value, "n")
    if isinstance(value, dt.datetime | dt.date):
        return Cell(value.isoformat(), "d")
    return Cell(str(value), "s")  # a time or a duration


# --- isolation: a pool of workers ----------------------------------------------------------


def _worker(
    path: str,
    max_row: int,
    max_col: int,
    boxes: Boxes | None,
    then: Callable[[str, Any], Any] | None,
) -> Any:
    try:
        result: Any = read_workbook(path, max_row, max_col, boxes)
    except ReadProblem as problem:
        result = problem
    return then(path, result) if then else result


def _chunk(paths: list[str]) -> list[tuple[str, Any]]:
    return [(p, _worker(p, *_ARGS)) for p in paths]


_ARGS: tuple[Any, ...] = ()  # in a worker: what every task reads with, given once at start


def read_many(
    paths: Iterable[str],
    max_row: int,
    max_col: int,
    *,
    boxes: Boxes | None = None,
    then: Callable[[str, Any], Any] | None = None,
    workers: int = 2,
    timeout: float = 30.0,
) -> Iterator[tuple[str, Any]]:
    """Read files in worker processes: a crash or hang is reported for that file only.

    `then(path, result)` runs in the worker on each RawWorkbook or ReadProblem, so the
    work that follows reading (checking, validating) is spread over the cores too; it
    must be a picklable, module-level function or partial. A crash or a time-out gives
    a ReadProblem, passed through `then` like any other.

    `paths` is taken lazily and only a few chunks are in flight at once, so the caller's
    own work on each result (and on the next paths) overlaps the workers', and memory
    stays flat however many files there are.
    """
    args = (max_row, max_col, boxes, then)
    if workers <= 0:
        for path in paths:
            yield path, _worker(path, *args)
        return
    todo = iter(paths)
    suspects: list[str] = []
    while True:  # one pool, or a fresh one after a crash or a hang broke the last
        broken = yield from _pooled(todo, args, workers, timeout)
        if broken is None:
            break
        suspects += broken
    for path in suspects:  # one at a time, each in its own process: find the culprit
        result = _isolated(path, args, timeout)
        yield path, (then(path, result) if then and isinstance(result, ReadProblem) else result)


CHUNK = 16  # files per task: enough to make the hand-over cheap, few enough to spread well


def _pooled(
    todo: Iterator[str], args: tuple[Any, ...], workers: int, timeout: float
) -> Generator[tuple[str, Any], None, list[str] | None]:
    """Run chunks through one pool; return the in-flight paths if the pool broke."""
    window: deque[tuple[list[str], Any]] = deque()
    with _pool(workers, args) as pool:

        def submit() -> None:
            chunk = list(itertools.islice(todo, CHUNK))
            if chunk:
                window.append((chunk, pool.submit(_chunk, chunk)))

        for _ in range(workers * 3):
            submit()
        while window:
            chunk, future = window.popleft()
            try:
                results = future.result(timeout=timeout * len(chunk))
            except (BrokenProcessPool, FuturesTimeout, OSError):
                return chunk + [p for c, _ in window for p in c]
            submit()  # keep the workers busy while the caller deals with these
            yield from results
    return None


def _worker_start(parent: int, args: tuple[Any, ...]) -> None:
    """In each worker: no stack dumps, and die with the parent so no orphan outlives a kill
    (an orphan would keep the run lock it inherited, and block the next run).

    `args` (the boxes and the examining function, with the roster's team ids) come once
    per worker, not with every task: tasks carry only file names."""
    global _IN_WORKER, _ARGS
    _IN_WORKER = True  # calamine may run here: an abort costs one file, not the run
    _ARGS = args
    # What came from the parent (the pack, its schemas and validators) lives as long as the
    # worker: frozen, the cycle collector never walks it again. A file's few thousand
    # objects live until it is done: collecting every 20,000 allocations, not every 700,
    # walks them once, not again and again (1% of a worker's instructions, by callgrind).
    gc.freeze()
    gc.set_threshold(20_000, 10, 10)
    faulthandler.disable()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the signal was armed (or even
        # before this process first ran: so the parent's pid comes from the parent)
        os._exit(1)


@contextlib.contextmanager
def _pool(workers: int, args: tuple[Any, ...] = ()) -> Iterator[ProcessPoolExecutor]:
    # fork: workers inherit the loaded pack. faulthandler off: a worker that a hostile file
    # kills is reported as that file's problem, not as a stack dump on the coordinator's screen.
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn" if os.name != "posix" else "fork"),
        initializer=_worker_start,
        initargs=(os.getpid(), args),
    )
    try:
        yield pool
    finally:
        for proc in list(getattr(pool, "_processes", {}).values()):
            with contextlib.suppress(Exception):
                proc.kill()  # a hung worker must not outlive the run
        pool.shutdown(wait=False, cancel_futures=True)


def _isolated(path: str, args: tuple[Any, ...], timeout: float) -> Any:
    with _pool(1, args) as pool:
        try:
            return pool.submit(_worker, path, *args).result(timeout=timeout)
        except FuturesTimeout:
            return ReadProblem("timeout", f"reading took over {timeout:.0f} s")
        except (BrokenProcessPool, OSError):
            return ReadProblem("crashed", "the reader process died on this file")
