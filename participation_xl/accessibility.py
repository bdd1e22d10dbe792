"""Accessibility: check a written workbook the way Excel's Accessibility Checker would.

Public bodies must publish accessible documents (WCAG 2.2 AA); in 2024 DfE withdrew an Excel
tool from GOV.UK for failing 1.1.1, 1.3.2 and 1.4.3. `check_workbook(path)` reads an .xlsx
with openpyxl, and reads the package parts openpyxl does not expose (drawings, charts, which
cells hold formulas) with zipfile and lxml. It returns findings as values: a stable code, the
sheet, the cell or object, and a message saying what is wrong and what to do.

Hidden sheets (our dropdown lists and signed identity) are never shown to a reader and are
skipped. Every check below is a heuristic; each says what it stands for and where it stops.

a11y.sheet_name (2.4.6 Headings and Labels). A visible sheet's tab must say what it holds:
    not empty, not only digits, not a default name ("Sheet1", "Chart2"). English defaults only.

a11y.alt_text (1.1.1 Non-text Content). Every chart, picture and text-less shape in a sheet's
    drawing needs alternative text: the `descr` of its `xdr:cNvPr` (XlsxWriter's
    `description`), unless it is marked decorative. A bare file name ("logo.png", what
    XlsxWriter writes when no description is given) counts as none. Cell comments (VML) are
    not drawings and are not checked.

a11y.table_header, a11y.table_merged (1.3.1 Info and Relationships). Every Excel table has a
    header row, and no merged range overlaps it: screen readers announce a table's column
    names, and cannot move through merged cells in a grid.

a11y.contrast (1.4.3 Contrast (Minimum)). Text must reach 4.5:1 against what is behind it,
    by WCAG's relative luminance formula, for: every font and fill pair used by a non-empty
    cell (numbers are text on screen too), each coloured run of rich text, every
    conditional format's style (its font colour on its fill, or on the cell's own fill where
    it sets none; a colour scale's colours under the cell's text), and the data labels a
    chart draws on its bars. We ask 4.5:1 of large text too (WCAG allows 3:1), because
    "fit to one page wide" prints it smaller. Colours are resolved as Excel does: automatic
    or no font colour is black, no fill is white, theme colours come from the workbook's
    theme with their tint, indexed colours from the standard palette (a custom palette is
    not read). A colour we cannot resolve is a finding, never a guess; default black on white
    always resolves. A pattern fill is checked against both its colours. Not checked: the
    fills of built-in table styles (cells we write carry their own fill), and chart colours
    given as modified theme colours.

a11y.colour_only (1.4.1 Use of Color). A conditional format that changes a fill or font
    colour shows a state (missing, late, red); the same state must be readable in words in
    the same row, or the colour is the only cue. A row passes when it holds one of:
      - text in a cell the format colours ("Met" on green: the word is the state); for a
        colour scale, a number does too, as the colour only repeats the value shown;
      - text in a cell the format's formula refers to (it is coloured because of that word);
      - a formula that gives text or has no value yet: a live status such as "Still to do",
        which changes with the state (it is blank in a row nobody has filled yet, when the
        format does not fire either).
    A row label alone is not enough: it says what the row is about, not its state. Only rows
    of the sheet's used area are checked, and a static fill (not a conditional one) is not.

a11y.no_label, a11y.reading_order (1.3.1; 1.3.2 Meaningful Sequence; 3.3.2 Labels or
    Instructions). On a protected sheet, each unlocked cell is an answer. It needs a label: a
    locked text cell (not a formula) to its left in its row, or the first locked non-empty
    cell above it in its column (its column heading). Screen readers read left to right, so
    the order must be label, answer, status: an answer whose only label is to its right, or
    with a live status (a text formula) between its label and itself, is read out of order.
    A label in a merged cell counts in its first row only; unlocked whole columns (styles
    without cells) are not seen. Findings are grouped per column.

This reads workbooks we wrote; it is not hardened against hostile files (see read.py).
"""

from __future__ import annotations

import colorsys
import io
import posixpath
import re
import warnings
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import openpyxl
from lxml import etree
from openpyxl.cell.cell import Cell
from openpyxl.cell.rich_text import CellRichText
from openpyxl.formatting.rule import Rule
from openpyxl.styles.colors import COLOR_INDEX, Color
from openpyxl.styles.fills import GradientFill, PatternFill
from openpyxl.worksheet.cell_range import CellRange
from openpyxl.worksheet.worksheet import Worksheet

from .place import cell_name, column_number, shown_at

MIN_CONTRAST = 4.5
BLACK, WHITE = "000000", "FFFFFF"

CRITERIA = {
    "a11y.sheet_name": "2.4.6 Headings and Labels",
    "a11y.alt_text": "1.1.1 Non-text Content",
    "a11y.table_header": "1.3.1 Info and Relationships",
    "a11y.table_merged": "1.3.1 Info and Relationships",
    "a11y.contrast": "1.4.3 Contrast (Minimum)",
    "a11y.colour_only": "1.4.1 Use of Color",
    "a11y.no_label": "3.3.2 Labels or Instructions",
    "a11y.reading_order": "1.3.2 Meaningful Sequence",
}

NS = {
    "m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "pr": "http://schemas.openxmlformats.org/package/2006/relationships",
    "xdr": "http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing",
    "a": "http://schemas.openxmlformats.org/drawingml/2006/main",
    "c": "http://schemas.openxmlformats.org/drawingml/2006/chart",
}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
# Excel's theme="n" counts light before dark, the reverse of the theme part's own order.
THEME_SLOTS = (
    "lt1",
    "dk1",
    "lt2",
    "dk2",
    *(f"accent{i}" for i in range(1, 7)),
    "hlink",
    "folHlink",
)
SCHEME_ALIASES = {"tx1": "dk1", "bg1": "lt1", "tx2": "dk2", "bg2": "lt2"}
DEFAULT_NAME = re.compile(r"(sheet|chart|macro|dialog)\s*\d*|[\d\s.,_-]*", re.IGNORECASE)
CELL_REF = re.compile(r"(?<![A-Za-z_.])\$?([A-Z]{1,3})\$?[0-9]+(?![\w(])")
# XlsxWriter, and Excel before 2016, fill in a picture's file name when no description is given.
FILE_NAME = re.compile(r"[^\\/]*\.(png|jpe?g|gif|bmp|svg|emf|wmf|tiff?)", re.IGNORECASE)
OBJECT_KINDS = {"pic": "Picture", "graphicFrame": "Chart", "sp": "Shape", "grpSp": "Group"}


@dataclass(frozen=True)
class Finding:
    """One accessibility problem: a stable code, where it is, and what to do about it."""

    code: str
    sheet: str
    cell: str  # a cell or range ("B8", "A5:K11"), an object ("Chart 1"), or "" for a sheet
    message: str

    @property
    def criterion(self) -> str:
        """The WCAG 2.2 success criterion this finding stands for."""
        return CRITERIA[self.code]

    def __str__(self) -> str:
        where = shown_at(self.sheet, self.cell)
        return f"{where}: {self.message} [{self.code}, WCAG {self.criterion}]"


def check_workbook(path: str | Path) -> list[Finding]:
    """Every accessibility finding in one .xlsx workbook, visible sheet by sheet, in tab order."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # openpyxl warns about parts it drops; we only read
        wb = openpyxl.load_workbook(path, data_only=True, rich_text=True)
    theme = _theme(wb.loaded_theme)
    findings: list[Finding] = []
    with zipfile.ZipFile(path) as zf:
        pkg = _Package(zf)
        for name in wb.sheetnames:
            sheet = wb[name]
            if sheet.sheet_state != "visible":
                continue
            part = pkg.sheet_parts.get(name, "")
            findings += _sheet_name(name)
            findings += _drawings(pkg, name, part, theme)
            if isinstance(sheet, Worksheet):
                s = _Sheet(sheet, theme, pkg.text_formulas(part))
                for check in (_tables, _cell_contrast, _conditional, _reading_order):
                    findings += check(s)
    return findings


# --- the package parts openpyxl does not expose ------------------------------------------


class _Package:
    def __init__(self, zf: zipfile.ZipFile) -> None:
        self.zf = zf
        self.names = set(zf.namelist())

    def xml(self, part: str) -> Any:
        return etree.fromstring(self.zf.read(part), _PARSER) if part in self.names else None

    def rels(self, part: str) -> dict[str, tuple[str, str]]:
        """A part's relationships: id -> (type, the target part's name)."""
        folder, name = posixpath.split(part)
        root = self.xml(posixpath.join(folder, "_rels", f"{name}.rels"))
        out = {}
        for rel in root.iterfind("pr:Relationship", NS) if root is not None else ():
            target = rel.get("Target", "")
            if rel.get("TargetMode") != "External":
                where = target[1:] if target.startswith("/") else posixpath.join(folder, target)
                out[rel.get("Id", "")] = (rel.get("Type", ""), posixpath.normpath(where))
        return out

    def related(self, part: str, kind: str) -> list[str]:
        return [t for typ, t in self.rels(part).values() if typ.endswith("/" + kind)]

    @cached_property
    def sheet_parts(self) -> dict[str, str]:
        book = next(iter(self.related("", "officeDocument")), "xl/workbook.xml")
        rels, root = self.rels(book), self.xml(book)
        return {
            s.get("name", ""): rels.get(s.get(f"{{{NS['r']}}}id", ""), ("", ""))[1]
            for s in root.iterfind("m:sheets/m:sheet", NS)
        }

    def text_formulas(self, part: str) -> set[str]:
        """Cells whose formula gives text, or has no value yet: where a live status lives."""
        if part not in self.names:
            return set()
        found = set()
        data = io.BytesIO(self.zf.read(part))
        for _, c in etree.iterparse(data, tag=f"{{{NS['m']}}}c", resolve_entities=False):
            if c.find("m:f", NS) is not None and (
                c.get("t") in ("str", "s", "inlineStr") or not c.findtext("m:v", "", NS)
            ):
                found.add(c.get("r", ""))
            c.clear()
        return found


# --- sheet names, drawings, tables -------------------------------------------------------


def _sheet_name(name: str) -> list[Finding]:
    if not DEFAULT_NAME.fullmatch(name.strip()):
        return []
    message = (
        f"The sheet tab is called '{name}', which does not say what the sheet holds. "
        "Rename it for its content, for example 'Returns' or 'Action plan'."
    )
    return [Finding("a11y.sheet_name", name, "", message)]


def _drawings(pkg: _Package, sheet: str, part: str, theme: dict[str, str]) -> Iterator[Finding]:
    for drawing in pkg.related(part, "drawing"):
        root, rels = pkg.xml(drawing), pkg.rels(drawing)
        for anchor in root if root is not None else ():
            obj = next((o for o in anchor if etree.QName(o).localname in OBJECT_KINDS), None)
            if obj is None:
                continue
            kind, at = OBJECT_KINDS[etree.QName(obj).localname], _anchor_cell(anchor)
            props = obj.find(".//xdr:cNvPr", NS)
            name = props.get("name", kind) if props is not None else kind
            if _needs_alt_text(obj, props):
                yield Finding(
                    "a11y.alt_text",
                    sheet,
                    name,
                    f"{kind} '{name}'{at} has no alternative text (or only a file name). "
                    "Describe what it shows "
                    "(in Excel: right-click, View Alt Text; in XlsxWriter: the 'description' "
                    "option), or mark it as decorative.",
                )
            for ref in obj.iterfind(".//c:chart", NS):
                chart = rels.get(ref.get(f"{{{NS['r']}}}id", ""), ("", ""))[1]
                yield from _chart_contrast(pkg.xml(chart), sheet, name, theme)


def _anchor_cell(anchor: Any) -> str:
    start = anchor.find("xdr:from", NS)
    if start is None:
        return ""
    col, row = int(start.findtext("xdr:col", "0", NS)), int(start.findtext("xdr:row", "0", NS))
    return f" at {cell_name(row + 1, col + 1)}"


def _needs_alt_text(obj: Any, props: Any) -> bool:
    said = props.get("descr", "").strip() if props is not None else ""
    if (said and not FILE_NAME.fullmatch(said)) or (props is not None and _decorative(props)):
        return False
    # A shape that holds text is read as that text; only an empty shape is a picture.
    text = "".join(obj.itertext()) if etree.QName(obj).localname == "sp" else ""
    return not text.strip()


def _decorative(props: Any) -> bool:
    return bool(props.xpath(".//*[local-name()='decorative' and @val='1']"))


def _chart_contrast(root: Any, sheet: str, chart: str, theme: dict[str, str]) -> Iterator[Finding]:
    """Data labels drawn on a bar must be readable on the bar's colour."""
    if root is None:
        return
    for group in root.iterfind(".//c:plotArea/c:barChart", NS):
        grouping = group.find("c:grouping", NS)
        stacked = grouping is not None and grouping.get("val") in ("stacked", "percentStacked")
        for n, ser in enumerate(group.iterfind("c:ser", NS), 1):
            labels = ser.find("c:dLbls", NS)
            if labels is None or not _labels_inside(labels, stacked):
                continue
            text = _drawing_colour(labels.find("c:txPr//a:defRPr/a:solidFill", NS), theme, BLACK)
            series = ser.findtext("c:tx//c:v", "", NS) or f"series {n}"
            fills = [
                ser.find("c:spPr/a:solidFill", NS),
                *ser.findall("c:dPt/c:spPr/a:solidFill", NS),
            ]
            for fill in fills:
                back = _drawing_colour(fill, theme, None)
                if text and back and _ratio(text, back) < MIN_CONTRAST:
                    yield Finding(
                        "a11y.contrast",
                        sheet,
                        chart,
                        f"The data labels of '{series}' are {_contrast_words(text, back)}, on "
                        "the bars. Use a darker bar colour, or a label colour that contrasts.",
                    )


def _labels_inside(labels: Any, stacked: bool) -> bool:
    shown = any(
        (flag := labels.find(f"c:{tag}", NS)) is not None and flag.get("val", "1") in ("1", "true")
        for tag in ("showVal", "showCatName", "showSerName", "showPercent")
    )
    pos = labels.find("c:dLblPos", NS)
    inside = pos.get("val") in ("ctr", "inEnd", "inBase") if pos is not None else stacked
    return shown and inside


def _drawing_colour(fill: Any, theme: dict[str, str], default: str | None) -> str | None:
    if fill is None:
        return default
    rgb = fill.find("a:srgbClr", NS)
    scheme = fill.find("a:schemeClr", NS)
    if rgb is not None:
        return rgb.get("val", "").upper() or None
    if scheme is not None and len(scheme) == 0:  # a modified theme colour is not resolved
        name = scheme.get("val", "")
        return theme.get(SCHEME_ALIASES.get(name, name))
    return None


def _tables(s: _Sheet) -> Iterator[Finding]:
    ws = s.ws
    for table in ws.tables.values():
        span = CellRange(table.ref)
        if table.headerRowCount == 0:
            yield Finding(
                "a11y.table_header",
                ws.title,
                table.ref,
                f"Table '{table.displayName}' has no header row. Turn the header row on and "
                "give every column a name, so a screen reader can announce each column.",
            )
        for merged in ws.merged_cells.ranges:
            if not span.isdisjoint(merged):
                yield Finding(
                    "a11y.table_merged",
                    ws.title,
                    merged.coord,
                    f"Merged cells {merged.coord} overlap table '{table.displayName}' "
                    f"({table.ref}). Unmerge them: a screen reader cannot move through merged "
                    "cells in a table, and filters and sorting break on them.",
                )


# --- colours and contrast ----------------------------------------------------------------


def _theme(data: bytes | None) -> dict[str, str]:
    colours = {"dk1": BLACK, "lt1": WHITE}  # what Excel uses when a file has no theme
    root = etree.fromstring(data, _PARSER) if data else None
    for slot in root.iterfind(".//a:clrScheme/*", NS) if root is not None else ():
        value = slot.find("a:srgbClr", NS)
        system = slot.find("a:sysClr", NS)
        hexa = value.get("val") if value is not None else None
        hexa = hexa or (system.get("lastClr") if system is not None else None)
        if hexa:
            colours[etree.QName(slot).localname] = hexa.upper()
    return colours


def _resolve(color: Color | None, theme: dict[str, str], default: str) -> str | None:
    """A cell colour as RRGGBB, or None when it cannot be known."""
    if color is None or color.type == "auto":
        return default
    if color.type == "rgb":
        rgb = color.rgb if isinstance(color.rgb, str) else ""
        return rgb[-6:].upper() if re.fullmatch(r"[0-9A-Fa-f]{6}([0-9A-Fa-f]{2})?", rgb) else None
    if color.type == "indexed":
        if color.indexed in (64, 65):  # the system's foreground and background
            return default
        return COLOR_INDEX[color.indexed][-6:] if 0 <= color.indexed < 64 else None
    slot = THEME_SLOTS[color.theme] if 0 <= (color.theme or 0) < len(THEME_SLOTS) else ""
    base = theme.get(slot)
    return _tinted(base, color.tint or 0.0) if base else None


def _tinted(rgb: str, tint: float) -> str:
    """Excel's tint: lighten towards white (tint > 0) or darken towards black (tint < 0)."""
    hue, light, sat = colorsys.rgb_to_hls(*(int(rgb[i : i + 2], 16) / 255 for i in (0, 2, 4)))
    light = light * (1 + tint) if tint < 0 else light * (1 - tint) + tint
    return "".join(f"{round(x * 255):02X}" for x in colorsys.hls_to_rgb(hue, light, sat))


def _fills(fill: Any, theme: dict[str, str]) -> list[str | None]:
    """The colours behind a cell's text, from a PatternFill or a GradientFill.

    A cell's fill comes wrapped in openpyxl's StyleProxy (typed as opaque, hence Any), which
    isinstance cannot see through: the tag name tells the two kinds apart."""
    if fill.tagname == GradientFill.tagname:
        return [_resolve(stop.color, theme, WHITE) for stop in fill.stop] or [WHITE]
    if fill.patternType in (None, "none"):
        return [WHITE]
    if fill.patternType == "solid":
        return [_resolve(fill.fgColor, theme, WHITE)]
    return [_resolve(fill.fgColor, theme, BLACK), _resolve(fill.bgColor, theme, WHITE)]


def _dxf_fill(rule: Rule, theme: dict[str, str]) -> list[str | None] | None:
    """The fill a conditional format paints, or None when it leaves the cell's own."""
    if rule.type == "colorScale" and rule.colorScale is not None:
        return [_resolve(c, theme, WHITE) for c in rule.colorScale.color]
    fill = rule.dxf.fill if rule.dxf is not None else None
    if fill is None or not isinstance(fill, PatternFill):  # a GradientFill: no single colour
        return None if fill is None else _fills(fill, theme)
    # In a dxf a solid fill's colour is its bgColor (ECMA-376 18.8.32), unlike a cell's.
    colour = next((c for c in (fill.bgColor, fill.fgColor) if _is_set(c)), None)
    return [_resolve(colour, theme, WHITE)] if colour is not None else None


def _dxf_font(rule: Rule, theme: dict[str, str]) -> str | None:
    font = rule.dxf.font if rule.dxf is not None else None
    return _resolve(font.color, theme, BLACK) if font is not None and _is_set(font.color) else None


def _is_set(color: Color | None) -> bool:
    return color is not None and not (color.type == "rgb" and color.rgb == "00000000")


def _luminance(rgb: str) -> float:
    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(int(rgb[i : i + 2], 16) / 255) for i in (0, 2, 4))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _ratio(fore: str, back: str) -> float:
    light, dark = sorted((_luminance(fore), _luminance(back)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def _contrast_words(fore: str, back: str) -> str:
    return f"#{fore} on #{back}, a contrast of {_ratio(fore, back):.2f}:1 (at least 4.5:1 needed)"


def _low_contrast(fore: str | None, back: str | None) -> str | None:
    """Why a pair fails, in words, or None when it passes."""
    if fore is None or back is None:
        return "in a colour that cannot be worked out (an unusual theme or palette colour)"
    return _contrast_words(fore, back) if _ratio(fore, back) < MIN_CONTRAST else None


# --- cell checks -------------------------------------------------------------------------


@dataclass
class _Sheet:
    """One worksheet's cells, indexed once for every cell check."""

    ws: Worksheet
    theme: dict[str, str]
    formulas: set[str]
    cells: dict[tuple[int, int], Cell] = field(default_factory=dict)
    rows: dict[int, list[Cell]] = field(default_factory=dict)
    unlocked: set[tuple[int, int]] = field(default_factory=set)  # the answer cells

    def __post_init__(self) -> None:
        for row in self.ws.iter_rows():
            for cell in row:
                if isinstance(cell, Cell):  # not the covered part of a merged range
                    self.cells[(cell.row, cell.column)] = cell
                    self.rows.setdefault(cell.row, []).append(cell)
                    if cell.protection.locked is False:
                        self.unlocked.add((cell.row, cell.column))

    @cached_property
    def headed(self) -> set[tuple[int, int]]:
        """Answer cells whose first locked, non-empty cell above (past other answers) is text."""
        found: set[tuple[int, int]] = set()
        heading: dict[int, bool] = {}
        for (r, c), cell in sorted(self.cells.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            if (r, c) in self.unlocked:
                if heading.get(c):
                    found.add((r, c))
            elif _shown(cell):
                heading[c] = self.is_label(cell)
        return found

    def is_label(self, cell: Cell) -> bool:
        """Locked, static text: a question or a heading, not an answer or a live status."""
        where = (cell.row, cell.column)
        return where not in self.unlocked and cell.coordinate not in self.formulas and _text(cell)

    def row(self, r: int) -> list[Cell]:
        return self.rows.get(r, [])

    def text_colours(self, cell: Cell) -> set[str | None]:
        """The colours of a cell's text: its font's, and each rich-text run's."""
        base = _resolve(cell.font.color, self.theme, BLACK)
        if not isinstance(cell.value, CellRichText):
            return {base}
        return {
            base
            if isinstance(run, str) or run.font is None
            else _resolve(run.font.color, self.theme, BLACK)
            for run in cell.value
            if str(run if isinstance(run, str) else run.text).strip()
        }


def _shown(cell: Cell) -> bool:
    return cell.value is not None and bool(str(cell.value).strip())


def _text(cell: Cell | None) -> bool:
    return cell is not None and isinstance(cell.value, str | CellRichText) and _shown(cell)


def _cell_contrast(s: _Sheet) -> Iterator[Finding]:
    pairs: dict[tuple[str | None, str | None], list[str]] = {}
    for cell in s.cells.values():
        if _shown(cell):
            for fore in s.text_colours(cell):
                for back in _fills(cell.fill, s.theme):
                    pairs.setdefault((fore, back), []).append(cell.coordinate)
    for (fore, back), where in pairs.items():
        if problem := _low_contrast(fore, back):
            yield Finding(
                "a11y.contrast",
                s.ws.title,
                where[0],
                f"Text is {problem}, in {len(where)} cell(s) from {where[0]}. "
                "Darken the text or lighten the fill.",
            )


def _conditional(s: _Sheet) -> Iterator[Finding]:
    for cf in s.ws.conditional_formatting:
        for rule in cf.rules:
            font, fill = _dxf_font(rule, s.theme), _dxf_fill(rule, s.theme)
            if font is None and fill is None:
                continue
            spans = list(cf.sqref.ranges)
            used = [x for x in (_clip(s.ws, span) for span in spans) if x]
            cells = [c for span in used for c in _cells_in(s, span)]
            yield from _rule_contrast(s, str(cf.sqref), font, fill, cells)
            yield from _colour_only(s, str(cf.sqref), rule, spans)


def _clip(ws: Worksheet, span: CellRange) -> CellRange | None:
    """The part of a range inside the sheet's used area (a format may cover whole columns)."""
    used = CellRange(min_col=1, min_row=1, max_col=ws.max_column, max_row=ws.max_row)
    # types-openpyxl leaves CellRange.intersection unannotated.
    return span.intersection(used) if not span.isdisjoint(used) else None  # type: ignore[no-untyped-call]


def _cells_in(s: _Sheet, span: CellRange) -> Iterable[Cell | None]:
    for r in range(span.min_row, span.max_row + 1):
        for c in range(span.min_col, span.max_col + 1):
            yield s.cells.get((r, c))


def _rule_contrast(
    s: _Sheet, where: str, font: str | None, fill: list[str | None] | None, cells: list[Any]
) -> Iterator[Finding]:
    pairs: set[tuple[str | None, str | None]] = set()
    for cell in cells or [None]:  # a cell that does not exist yet has the default style
        fores = {font} if font is not None else (s.text_colours(cell) if cell else {BLACK})
        backs = fill if fill is not None else (_fills(cell.fill, s.theme) if cell else [WHITE])
        pairs |= {(f, b) for f in fores for b in backs}
    problems = sorted(filter(None, (_low_contrast(f, b) for f, b in pairs)))
    if problems:
        yield Finding(
            "a11y.contrast",
            s.ws.title,
            where,
            f"Where the conditional format on {where} applies, text is {problems[0]}. "
            "Change the format's font or fill colour.",
        )


def _colour_only(s: _Sheet, where: str, rule: Rule, spans: list[CellRange]) -> Iterator[Finding]:
    referred = {
        column_number(col)
        for formula in rule.formula or []
        for col in CELL_REF.findall(re.sub(r'"[^"]*"', '""', formula))
    }
    last = s.ws.max_row  # rows below the used area hold nothing, coloured or not
    rows = sorted({r for x in spans for r in range(x.min_row, min(x.max_row, last) + 1)})
    silent = [r for r in rows if not _says_in_words(s, r, rule, spans, referred)]
    if silent:
        yield Finding(
            "a11y.colour_only",
            s.ws.title,
            where,
            f"The conditional format on {where} shows a state by colour alone: "
            + (f"row {silent[0]} says" if len(silent) == 1 else f"{len(silent)} rows say")
            + f" nothing about it in words (first row {silent[0]}). Add a status in words in "
            'the same row (a formula such as "Still to do"), or put the word in the coloured '
            "cell.",
        )


def _says_in_words(
    s: _Sheet, r: int, rule: Rule, spans: list[CellRange], referred: set[int]
) -> bool:
    for cell in s.row(r):
        coloured = any(
            x.min_row <= r <= x.max_row and x.min_col <= cell.column <= x.max_col for x in spans
        )
        if coloured and (_text(cell) or (rule.type == "colorScale" and _shown(cell))):
            return True
        if (cell.column in referred and _text(cell)) or cell.coordinate in s.formulas:
            return True
    return False


def _reading_order(s: _Sheet) -> Iterator[Finding]:
    if not s.ws.protection.sheet:
        return  # on an open sheet every cell is editable: there are no answer cells to find
    by_code_col: dict[tuple[str, int], list[tuple[Cell, str]]] = {}
    for where in sorted(s.unlocked):  # row by row, so each column reports its first cell
        cell = s.cells[where]
        if problem := _order_problem(s, cell):
            by_code_col.setdefault((problem[0], cell.column), []).append((cell, problem[1]))
    for (code, _), found in sorted(by_code_col.items(), key=lambda kv: kv[0][1]):
        first, message = found[0]
        more = f" (and {len(found) - 1} more in this column)" if len(found) > 1 else ""
        yield Finding(code, s.ws.title, first.coordinate, message + more)


def _order_problem(s: _Sheet, answer: Cell) -> tuple[str, str] | None:
    r, c, ref = answer.row, answer.column, answer.coordinate
    labels = [x.column for x in s.row(r) if s.is_label(x)]
    left = max((col for col in labels if col < c), default=None)
    if left is not None:
        status = [x for x in s.row(r) if x.coordinate in s.formulas and left < x.column < c]
        if status:
            return (
                "a11y.reading_order",
                f"The status in {status[0].coordinate} comes before the answer cell {ref}; it "
                "is read before the answer. Put the status to the right of the answer.",
            )
        return None
    if (r, c) in s.headed:
        return None
    right = min((col for col in labels if col > c), default=None)
    if right is not None:
        return (
            "a11y.reading_order",
            f"The answer cell {ref} comes before its label in {cell_name(r, right)}; a "
            "screen reader reads left to right and meets the answer before the question. "
            "Put the label to the left of the answer.",
        )
    return (
        "a11y.no_label",
        f"The answer cell {ref} has no label: no text to its left in row {r} and no heading "
        "above it. Put the question to its left, or a column heading above it.",
    )
