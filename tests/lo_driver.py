"""Drive LibreOffice, the real client, through UNO: run by Debian's /usr/bin/python3.

`import uno` only works in the system Python, so tests talk to this script over stdin and
stdout: one JSON request per line in, one JSON response per line out. It starts one
headless soffice with a private profile and stops it when its input ends.
"""

import contextlib
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


def split(ref):
    sheet, cell = ref.rsplit("!", 1)
    return sheet.strip("'"), cell


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


def fill_save(office, req):
    doc = office.open(req["path"])
    try:
        for edit in req["edits"]:
            sheet, cell = split(edit["cell"])
            c = doc.Sheets.getByName(sheet).getCellRangeByName(cell)
            kind, value = edit.get("type", "string"), edit["value"]
            if kind == "number" or kind == "date":
                c.setValue(float(value))
            elif kind == "formula":
                c.setFormula(value)
            else:
                c.setString(str(value))
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


OPS = {"inspect": inspect, "fill_save": fill_save, "to_pdf": to_pdf, "type_into": type_into}


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
