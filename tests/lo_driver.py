"""Drive LibreOffice, the real client, through UNO: run by Debian's /usr/bin/python3.

`import uno` only works in the system Python, so tests talk to this script over stdin and
stdout: one JSON request per line in, one JSON response per line out. It starts one
headless soffice with a private profile and stops it when its input ends.
"""

import contextlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

import uno
from com.sun.star.beans import PropertyValue

NEVER_EXECUTE = 0  # com.sun.star.document.MacroExecMode.NEVER_EXECUTE
# com.sun.star.sheet.CellFlags: VALUE | DATETIME | STRING | FORMULA
VALUES = 1 | 2 | 4 | 16
FILTERS = {
    "xlsx": "Calc Office Open XML",
    "ods": "calc8",
    "xls": "MS Excel 97",
    "pdf": "calc_pdf_Export",
}


def prop(name, value):
    p = PropertyValue()
    p.Name, p.Value = name, value
    return p


class Office:
    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="lo-profile-")
        self.pipe = f"pxl{os.getpid()}"
        soffice = shutil.which("soffice") or "/usr/bin/soffice"
        self.proc = subprocess.Popen(
            [
                soffice,
                "--headless",
                "--invisible",
                "--nologo",
                "--norestore",
                "--nodefault",
                "--nolockcheck",
                f"--accept=pipe,name={self.pipe};urp;StarOffice.ComponentContext",
                f"-env:UserInstallation=file://{self.profile}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        local = uno.getComponentContext()
        resolver = local.ServiceManager.createInstanceWithContext(
            "com.sun.star.bridge.UnoUrlResolver", local
        )
        deadline = time.monotonic() + 90
        while True:
            try:
                self.ctx = resolver.resolve(
                    f"uno:pipe,name={self.pipe};urp;StarOffice.ComponentContext"
                )
                break
            except Exception:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.3)
        self.smgr = self.ctx.ServiceManager
        self.desktop = self.smgr.createInstanceWithContext("com.sun.star.frame.Desktop", self.ctx)

    def open(self, path, hidden=True):
        args = (
            prop("Hidden", hidden),
            prop("MacroExecutionMode", NEVER_EXECUTE),
            prop("ReadOnly", False),
        )
        doc = self.desktop.loadComponentFromURL(uno.systemPathToFileUrl(path), "_blank", 0, args)
        if doc is None:
            raise RuntimeError(f"LibreOffice could not open {path}")
        return doc

    def close(self):
        with contextlib.suppress(Exception):  # soffice may already be gone
            self.desktop.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


def _place():
    """participation_xl/place.py, loaded on its own (it needs only the standard library):
    the one parser of references, in this system Python that cannot import the package."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "participation_xl", "place.py")  # fmt: skip
    spec = importlib.util.spec_from_file_location("_pxl_place", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


PLACE = _place()


def split(ref):
    """'Team''s details'!B8 -> ("Team's details", "B8")."""
    found = PLACE.parse(ref)
    if found is None or not found[0]:
        raise ValueError(f"not a reference to a cell on a sheet: {ref!r}")
    sheet, row, col, last_row, last_col = found
    cell = PLACE.cell_name(row, col)
    if (last_row, last_col) != (row, col):
        cell += ":" + PLACE.cell_name(last_row, last_col)
    return sheet, cell


def describe(doc, ref):
    sheet, cell = split(ref)
    c = doc.Sheets.getByName(sheet).getCellRangeByName(cell)
    v = c.Validation
    return {
        "locked": bool(c.CellProtection.IsLocked),
        "string": c.getString(),
        "value": c.getValue(),
        "formula": c.getFormula(),
        "validation": {
            "type": v.Type.value,
            "formula1": v.getFormula1(),
            "formula2": v.getFormula2(),
            "show_error": bool(v.ShowErrorMessage),
            "error_message": v.ErrorMessage,
            "input_title": v.InputTitle,
            "input_message": v.InputMessage,
        },
    }


def inspect(office, req):
    doc = office.open(req["path"])
    try:
        sheets = [
            {"name": s.Name, "visible": bool(s.IsVisible), "protected": bool(s.isProtected())}
            for s in (doc.Sheets.getByIndex(i) for i in range(doc.Sheets.Count))
        ]
        names = {
            n: doc.NamedRanges.getByName(n).getContent() for n in doc.NamedRanges.getElementNames()
        }
        if req.get("recalc"):
            doc.calculateAll()
        cells = {ref: describe(doc, ref) for ref in req.get("cells", [])}
        return {
            "sheets": sheets,
            "named_ranges": names,
            "cells": cells,
            "structure_protected": bool(doc.isProtected()),
        }
    finally:
        doc.close(True)


def apply_edits(doc, edits):
    """Put each edit into its cell through UNO: text, a number (dates as serial numbers),
    a formula, or nothing at all ("blank" clears the cell)."""
    sheets = {}
    for edit in edits:
        sheet, cell = split(edit["cell"])
        if sheet not in sheets:
            sheets[sheet] = doc.Sheets.getByName(sheet)
        c = sheets[sheet].getCellRangeByName(cell)
        kind, value = edit.get("type", "string"), edit.get("value")
        if kind in ("number", "date"):
            c.setValue(float(value))
        elif kind == "formula":
            c.setFormula(value)
        elif kind == "blank":
            c.clearContents(VALUES)
        else:
            c.setString(str(value))


def fill_save(office, req):
    doc = office.open(req["path"])
    try:
        apply_edits(doc, req["edits"])
        doc.calculateAll()
        doc.storeToURL(
            uno.systemPathToFileUrl(req["out"]), (prop("FilterName", FILTERS[req["filter"]]),)
        )
        return {"ok": True}
    finally:
        doc.close(True)


def to_pdf(office, req):
    doc = office.open(req["path"])
    try:
        doc.calculateAll()
        doc.storeToURL(uno.systemPathToFileUrl(req["out"]), (prop("FilterName", FILTERS["pdf"]),))
        return {"ok": True, "bytes": os.path.getsize(req["out"])}
    finally:
        doc.close(True)


def type_into(office, req):
    """Type as a user would: select the cell, then enter text through the dispatcher."""
    doc = office.open(req["path"])
    try:
        sheet, cell = split(req["cell"])
        target = doc.Sheets.getByName(sheet)
        controller = doc.getCurrentController()
        controller.setActiveSheet(target)
        before = target.getCellRangeByName(cell).getString()
        frame = controller.getFrame()
        dispatcher = office.smgr.createInstanceWithContext(
            "com.sun.star.frame.DispatchHelper", office.ctx
        )
        dispatcher.executeDispatch(frame, ".uno:GoToCell", "", 0, (prop("ToPoint", cell),))
        dispatcher.executeDispatch(
            frame, ".uno:EnterString", "", 0, (prop("StringName", req["text"]),)
        )
        after = target.getCellRangeByName(cell).getString()
        return {"supported": True, "changed": before != after, "before": before, "after": after}
    finally:
        doc.close(True)


def named_cell(doc, name):
    """What a workbook-level defined name refers to, after recalculation."""
    if not doc.NamedRanges.hasByName(name):
        local = [
            s.Name
            for s in (doc.Sheets.getByIndex(i) for i in range(doc.Sheets.Count))
            if s.NamedRanges.hasByName(name)
        ]
        return {"defined": False, "sheet_level_on": local}
    named = doc.NamedRanges.getByName(name)
    out = {"defined": True, "content": named.getContent()}
    try:
        cells = named.getReferredCells()
    except Exception as err:  # a name holding a constant or a formula, not a reference
        cells = None
        out["error"] = f"{type(err).__name__}: {err}"
    if cells is None:
        out["cells"] = 0
        return out
    address = cells.getRangeAddress()
    out["cells"] = (address.EndColumn - address.StartColumn + 1) * (
        address.EndRow - address.StartRow + 1
    )
    first = cells.getCellByPosition(0, 0)
    out |= {
        "sheet": doc.Sheets.getByIndex(address.Sheet).Name,
        "row": address.StartRow + 1,
        "col": address.StartColumn + 1,
        "value": first.getValue(),
        "string": first.getString(),
        "formula": first.getFormula(),
    }
    return out


def fill_read(office, req):
    """Type many answers in one request, recalculate, read what the workbook now shows.

    Request: path; edits (as fill_save, plus "blank" to clear a cell); recalc (default
    true; false reads the values cached in the file); names (workbook-level defined names
    to read); cells (refs whose text and value to read); optional out + filter (store the
    filled document) and pdf (export it to PDF too). Answers each name (defined, content,
    cells, sheet/row/col and the value of its first cell), each cell, and the seconds taken.
    """
    start = time.monotonic()
    doc = office.open(req["path"])
    try:
        apply_edits(doc, req.get("edits", []))
        if req.get("recalc", True):
            doc.calculateAll()
        names = {n: named_cell(doc, n) for n in req.get("names", [])}
        sheets = {}
        cells = {}
        for ref in req.get("cells", []):
            sheet, cell = split(ref)
            if sheet not in sheets:
                sheets[sheet] = doc.Sheets.getByName(sheet)
            c = sheets[sheet].getCellRangeByName(cell)
            cells[ref] = {"string": c.getString(), "value": c.getValue()}
        if req.get("out"):
            doc.storeToURL(
                uno.systemPathToFileUrl(req["out"]),
                (prop("FilterName", FILTERS[req.get("filter", "xlsx")]),),
            )
        if req.get("pdf"):
            doc.storeToURL(
                uno.systemPathToFileUrl(req["pdf"]), (prop("FilterName", FILTERS["pdf"]),)
            )
        return {"names": names, "cells": cells, "seconds": time.monotonic() - start}
    finally:
        doc.close(True)


OPS = {
    "inspect": inspect,
    "fill_save": fill_save,
    "fill_read": fill_read,
    "to_pdf": to_pdf,
    "type_into": type_into,
}


def main():
    office = Office()
    print(json.dumps({"ready": True}), flush=True)
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            req = json.loads(line)
            try:
                out = OPS[req["op"]](office, req)
            except Exception as err:
                out = {"error": f"{type(err).__name__}: {err}", "trace": traceback.format_exc()}
            print(json.dumps(out), flush=True)
    finally:
        office.close()


if __name__ == "__main__":
    main()
