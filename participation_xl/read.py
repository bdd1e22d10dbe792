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
import multiprocessing
import os
import re
import signal
import sys
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from lxml import etree

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
_CELL = re.compile(r"([A-Z]{1,3})(\d+)")


@dataclass(frozen=True)
class Cell:
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
    cells: dict[str, dict[tuple[int, int], Cell]] = field(default_factory=dict)
    date1904: bool = False
    flags: frozenset[str] = frozenset()


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


def _read(path: str, max_row: int, max_col: int, boxes: Boxes | None) -> RawWorkbook:
    with open(path, "rb") as fh:  # noqa: PTH123 (a plain handle is what zipfile wants)
        head = fh.read(8)
        if not head:
            raise ReadProblem("empty", "0 bytes")
        if head.startswith(b"PK"):
            try:
                fh.seek(0)
                with zipfile.ZipFile(fh) as z:
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


def _load(z: zipfile.ZipFile, name: str, budget: _Budget) -> Any:
    """Parse one part whole (lxml, in C), refusing DTDs and anything that inflates too far.

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
    return etree.fromstring(data, _PARSER)


# --- xlsx -------------------------------------------------------------------------------


def _rels(
    z: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], part: str, budget: _Budget
) -> dict[str, tuple[str, str, str]]:
    """Relationships of a part: id -> (type, resolved target, target mode)."""
    folder, base = PurePosixPath(part).parent, PurePosixPath(part).name
    rels_name = str(folder / "_rels" / f"{base}.rels").lstrip("/") if part else "_rels/.rels"
    if rels_name not in members:
        return {}
    out = {}
    for el in _load(z, rels_name, budget).iter(REL):
        target = el.get("Target", "")
        mode = el.get("TargetMode", "")
        resolved = (
            target.lstrip("/")
            if target.startswith("/")
            else os.path.normpath(str(folder / target)).lstrip("./")
        )
        out[el.get("Id", "")] = (el.get("Type", ""), resolved.replace("\\", "/"), mode)
    return out


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
    strings = _strings(z, members, book_rels, budget)
    dates = _date_styles(z, members, book_rels, budget)
    raw.custom_properties = _custom_props(z, members, budget)
    flags = _flags(members, book_rels)
    for info in raw.sheets:
        part = sheet_parts.get(info.name)
        if boxes is not None and info.name not in boxes:
            continue
        rows, cols = boxes[info.name] if boxes is not None else (max_row, max_col)
        if part and part in members:
            cells, protected, dde = _sheet(z, part, budget, strings, dates, rows, cols)
            raw.cells[info.name] = cells
            info.protected = protected
            if dde:
                flags.add("dde")
    raw.flags = frozenset(flags)
    return raw


def _workbook(
    z: zipfile.ZipFile,
    book: str,
    budget: _Budget,
    raw: RawWorkbook,
    rels: dict[str, tuple[str, str, str]],
) -> dict[str, str]:
    root = _load(z, book, budget)
    parts = {}
    for el in root.iter(f"{NS}sheet"):
        name = el.get("name", "")
        raw.sheets.append(SheetInfo(name, el.get("state", "visible")))
        rel = rels.get(el.get(f"{R_NS}id", ""))
        if rel:
            parts[name] = rel[1]
    for el in root.iter(f"{NS}definedName"):
        if el.get("localSheetId") is None and el.text:
            raw.defined_names[el.get("name", "")] = el.text
    pr = root.find(f"{NS}workbookPr")
    raw.date1904 = pr is not None and pr.get("date1904", "0") in ("1", "true")
    return parts


def _related(
    rels: dict[str, tuple[str, str, str]], members: dict[str, zipfile.ZipInfo], kind: str
) -> str | None:
    """The part a relationship of this kind points at, if it is really in the file."""
    part = next((t for typ, t, _ in rels.values() if typ.endswith(kind)), None)
    return part if part in members else None


def _strings(
    z: zipfile.ZipFile,
    members: dict[str, zipfile.ZipInfo],
    rels: dict[str, tuple[str, str, str]],
    budget: _Budget,
) -> list[str]:
    part = _related(rels, members, "/sharedStrings")
    if not part:
        return []
    return [
        _unescape("".join(t.text or "" for t in si.iter(f"{NS}t") if _not_phonetic(t)))
        for si in _load(z, part, budget).iterchildren(f"{NS}si")
    ]


def _not_phonetic(t: Any) -> bool:
    parent = t.getparent()
    return parent is None or parent.tag != f"{NS}rPh"


def _unescape(text: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text) if "_x" in text else text


def _date_styles(
    z: zipfile.ZipFile,
    members: dict[str, zipfile.ZipInfo],
    rels: dict[str, tuple[str, str, str]],
    budget: _Budget,
) -> list[bool]:
    part = _related(rels, members, "/styles")
    if not part:
        return []
    root = _load(z, part, budget)
    custom = {
        int(f.get("numFmtId", "0")): _is_date_code(f.get("formatCode", ""))
        for f in root.iter(f"{NS}numFmt")
    }
    xfs = root.find(f"{NS}cellXfs")
    if xfs is None:
        return []
    out = []
    for xf in xfs.iter(f"{NS}xf"):
        fid = int(xf.get("numFmtId", "0") or 0)
        out.append(custom.get(fid, fid in _DATE_IDS))
    return out


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


def _flags(members: dict[str, zipfile.ZipInfo], rels: dict[str, tuple[str, str, str]]) -> set[str]:
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


_FILLED = etree.XPath(
    "m:sheetData/m:row[not(@r) or @r <= $rows]/m:c[m:v or m:f or m:is]",
    namespaces={"m": NS[1:-1]},
)


def _sheet(
    z: zipfile.ZipFile,
    part: str,
    budget: _Budget,
    strings: list[str],
    dates: list[bool],
    max_row: int,
    max_col: int,
) -> tuple[dict[tuple[int, int], Cell], bool, bool]:
    root = _load(z, part, budget)
    prot = root.find(f"{NS}sheetProtection")
    protected = prot is not None and prot.get("sheet", "0") in ("1", "true")
    cells: dict[tuple[int, int], Cell] = {}
    dde = False
    for el in _FILLED(root, rows=max_row):  # only cells that hold something, selected in C
        row, col = _position(el)
        if row > max_row or col > max_col:
            continue
        cell = _cell(el, strings, dates)
        if cell.formula and ("|" in cell.formula or "DDE" in cell.formula.upper()):
            dde = True
        cells[(row, col)] = cell
    return cells, protected, dde


def _position(el: Any) -> tuple[int, int]:
    ref = el.get("r")
    if ref:
        where = _ref_position(ref)
        if where:
            return where
    # No reference: the cell follows its left neighbour in the same row (Excel allows this).
    row_el = el.getparent()
    row = int(row_el.get("r") or row_el.getparent().index(row_el) + 1)
    return row, row_el.index(el) + 1


@functools.lru_cache(maxsize=65536)
def _ref_position(ref: str) -> tuple[int, int] | None:
    """'B12' -> (12, 2); cached, as the same few hundred references recur in every return."""
    m = _CELL.fullmatch(ref)
    return (int(m.group(2)), _col(m.group(1))) if m else None


def _col(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n


_V, _F, _IS, _T = f"{NS}v", f"{NS}f", f"{NS}is", f"{NS}t"


def _cell(el: Any, strings: list[str], dates: list[bool]) -> Cell:
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
        idx = int(text)
        return Cell(strings[idx] if 0 <= idx < len(strings) else "", "s", formula, is_date)
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
        sheet = book.get_sheet_by_name(info.name)
        row0, col0 = sheet.start or (0, 0)  # calamine's rows begin at the first used cell
        cells = {}
        for r, row in enumerate(sheet.iter_rows(), start=row0 + 1):
            if r > max_row:
                break
            for c, value in enumerate(row[: max(0, max_col - col0)], start=col0 + 1):
                cell = _calamine_cell(value)
                if cell is not None:
                    cells[(r, c)] = cell
        raw.cells[info.name] = cells
    return raw


def _calamine_cell(value: Any) -> Cell | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return Cell(value, "b")
    if isinstance(value, dt.datetime | dt.date):
        return Cell(value.isoformat(), "d")
    if isinstance(value, dt.time | dt.timedelta):
        return Cell(str(value), "s")
    if isinstance(value, float):
        return Cell(int(value) if value.is_integer() else value, "n")
    if isinstance(value, int):
        return Cell(value, "n")
    return Cell(str(value), "s")


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


def _chunk(paths: list[str], *args: Any) -> list[tuple[str, Any]]:
    return [(p, _worker(p, *args)) for p in paths]


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
    """
    todo = list(paths)
    args = (max_row, max_col, boxes, then)
    if workers <= 0:
        yield from _chunk(todo, *args)
        return
    size = max(1, min(32, len(todo) // (workers * 4) or 1))
    chunks = [todo[i : i + size] for i in range(0, len(todo), size)]
    suspects: list[str] = []
    with _pool(workers) as pool:
        futures = [(c, pool.submit(_chunk, c, *args)) for c in chunks]
        for chunk, future in futures:
            try:
                yield from future.result(timeout=timeout * len(chunk))
            except (BrokenProcessPool, FuturesTimeout, OSError):
                suspects += chunk
    for path in suspects:  # one at a time, each in its own process: find the culprit
        result = _isolated(path, args, timeout)
        yield path, (then(path, result) if then and isinstance(result, ReadProblem) else result)


def _worker_start() -> None:
    """In each worker: no stack dumps, and die with the parent so no orphan outlives a kill."""
    faulthandler.disable()
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)


@contextlib.contextmanager
def _pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    # fork: workers inherit the loaded pack. faulthandler off: a worker that a hostile file
    # kills is reported as that file's problem, not as a stack dump on the coordinator's screen.
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn" if os.name != "posix" else "fork"),
        initializer=_worker_start,
    )
    try:
        yield pool
    finally:
        for proc in list(getattr(pool, "_processes", {}).values()):
            with contextlib.suppress(Exception):
                proc.kill()  # a hung worker must not outlive the run
        pool.shutdown(wait=False, cancel_futures=True)


def _isolated(path: str, args: tuple[Any, ...], timeout: float) -> Any:
    with _pool(1) as pool:
        try:
            return pool.submit(_worker, path, *args).result(timeout=timeout)
        except FuturesTimeout:
            return ReadProblem("timeout", f"reading took over {timeout:.0f} s")
        except (BrokenProcessPool, OSError):
            return ReadProblem("crashed", "the reader process died on this file")
