"""Printed on A4, every workbook a team gets is legible and shows every word it holds.

LibreOffice prints each workbook to PDF and pdfplumber reads the PDF back (see render.py):

- no text on any page is smaller than 8 pt;
- a free-text answer of its full allowed length (max_length characters of real words)
  reaches the PDF word for word: a cell that clips its text loses the clipped words;
- every piece of guidance the pack prints (titles, descriptions, row and column labels)
  reaches the PDF word for word;
- the text prints in fonts with Excel's widths (Liberation Sans for Arial, Carlito for
  Calibri), without which every size measured would be smaller than Excel prints.

Workbooks: issued blank; issued pre-filled by build_workbook (as after new-cycle); issued
blank and then typed into in LibreOffice, as a team does; and the feedback workbook that
collect writes for an invalid return. Each is rendered once per module.

PXL_KEEP_PDF=DIR keeps every PDF; the figures measured are printed at the end (pytest -s)
and written to print-figures.json in pytest's temporary folder.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import render
from xlsxwriter.utility import xl_rowcol_to_cell

from participation_xl import init_workspace
from participation_xl.generate import IssueContext, build_workbook, generate
from participation_xl.messages import CATALOGUE
from participation_xl.pack import META_SHEET, Form, load_pack
from participation_xl.pipeline import collect_and_report
from participation_xl.roster import Team, read_roster
from participation_xl.sample import fill_workbook, sample_answers

pytestmark = pytest.mark.libreoffice

MIN_PT = 8.0
FORMS = ["audit", "six-standards"]
KINDS = ["issued", "pre-filled", "typed", "feedback"]
VARIANTS = [f"{kind} {form}" for kind in KINDS for form in FORMS]
TABLE_ROWS = 3  # rows of each table filled with full-length answers
TEAM = Team(
    "ADV1",
    "Independent Advocacy",
    "Advocacy",
    "commissioned",
    "Off the Record",
    "Jo Smith",
    "jo@example.org",
)
CTX = IssueContext(
    "Test Council",
    "2026-27",
    dt.date(2027, 3, 31),
    "the shared folder",
    "pw-123",
    b"secret-key",
    "2026-11-24T10:00:00+00:00",
)
# Plainly wrong answers that make a return invalid, so that collect writes its feedback.
WRONG = {
    "audit": {
        "commitment.staff_total": "twelve",
        "about.date_completed": "30/02/2027",
        "promises.listen.rating": "Often",
        "about.role": None,
    },
    "six-standards": {
        "budget.participation_budget": "lots",
        "contract.contract_start": "30/02/2027",
        "standards.feedback.rating": "Often",
        "contract.contact_email": "jo.example.org",
        "sign_off.role": None,
    },
}


@dataclass
class Rendered:
    """One workbook printed to PDF, and what it should show."""

    name: str
    form: Form
    xlsx: Path
    pdf: Path
    printed: render.Printed | None = None
    answers: dict[str, str] = field(default_factory=dict)  # where -> full-length text
    vocab: set[str] = field(default_factory=set)  # words only answers bring


def a1(sheet: str, row: int, col: int) -> str:
    return f"'{sheet}'!{xl_rowcol_to_cell(row - 1, col - 1)}"


def _put(doc: dict[str, Any], path: str, value: Any) -> None:
    *parents, key = path.split(".")
    for p in parents:
        doc = doc.setdefault(p, {})
    if value is None:
        doc.pop(key, None)
    else:
        doc[key] = value


def full_answers(
    form: Form, rng: random.Random, vocab: list[str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """A complete return with every free-text answer at its full allowed length.

    Tables get TABLE_ROWS rows. Answers: the document, and where -> each long text.
    """
    doc = sample_answers(form, rng, rows=TABLE_ROWS)
    long: dict[str, str] = {}
    for i in form.inputs:
        if i.field.kind == "text" and i.field.max_length:
            text = render.long_text(rng, i.field.max_length, vocab)
            _put(doc, i.field.path, text)
            long[f"{a1(i.sheet, i.row, i.col)} {i.field.path}"] = text
    for t in form.tables:
        for n, item in enumerate(doc[t.path]):
            for c in t.columns:
                if c.kind == "text" and c.max_length:
                    item[c.key] = render.long_text(rng, c.max_length, vocab)
                    where = a1(t.sheet, t.first_row + n, t.col_of(c.key))
                    long[f"{where} {t.path}[{n + 1}].{c.key}"] = item[c.key]
    return doc, long


def guidance(form: Form) -> dict[str, str]:
    """Every text the pack asks the workbook to print, by where it comes from."""
    out = {"form title": form.title, "form intro": form.intro}
    for plan in form.sheets:
        for b in plan.blocks:
            where = f"{plan.name}: {b.title or plan.name}"
            if b.title:
                out[f"{where}: block title"] = b.title
            if b.description:
                out[f"{where}: block description"] = b.description
            if b.type == "questions":
                for i in b.inputs:
                    out[f"{where}: {i.field.path} title"] = i.field.title
                    out[f"{where}: {i.field.path} description"] = i.field.description
            elif b.type == "grid":
                for n, title in enumerate(b.column_titles):
                    out[f"{where}: column {n + 1}"] = title
                for row, label in b.row_labels:
                    out[f"{where}: row {row} label"] = label
            if b.table:
                for c in b.table.columns:
                    out[f"{where}: column {c.key}"] = c.title
    return {k: v for k, v in out.items() if v.strip()}


def edits_for(form: Form, doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The answers as a person types them in LibreOffice: dates and numbers as values."""
    out = []

    def edit(sheet: str, row: int, col: int, kind: str, value: Any) -> None:
        if value is None:
            return
        if kind == "date":
            serial = (dt.date.fromisoformat(value) - dt.date(1899, 12, 30)).days
            out.append({"cell": a1(sheet, row, col), "type": "date", "value": serial})
        elif kind in ("integer", "number") and isinstance(value, int | float):
            out.append({"cell": a1(sheet, row, col), "type": "number", "value": value})
        else:
            out.append({"cell": a1(sheet, row, col), "type": "string", "value": str(value)})

    for i in form.inputs:
        node: Any = doc
        for part in i.field.parts:
            node = node.get(part) if isinstance(node, dict) else None
        edit(i.sheet, i.row, i.col, i.field.kind, node)
    for t in form.tables:
        for n, item in enumerate(doc.get(t.path, [])):
            for c in t.columns:
                edit(t.sheet, t.first_row + n, t.col_of(c.key), c.kind, item.get(c.key))
    return out


def form_of(path: Path) -> str:
    wb = openpyxl.load_workbook(path, read_only=True)
    try:
        meta = {r[0]: r[1] for r in wb[META_SHEET].iter_rows(values_only=True) if r and r[0]}
    finally:
        wb.close()
    return str(meta["form"])


class Printer:
    """Renders each variant once, on demand, and keeps the figures measured."""

    def __init__(self, libreoffice: Any, folder: Path) -> None:
        self.lo, self.folder = libreoffice, folder
        self.pack = load_pack()
        self.done: dict[str, Rendered] = {}
        self.cached: dict[str, dict[str, Any]] = {}
        self.keep = render.keep_pdfs()

    def get(self, name: str) -> Rendered:
        if name not in self.done:
            kind, form_id = name.split(" ", 1)
            self.done[name] = getattr(self, "_" + kind.replace("-", "_"))(
                name, self.pack.forms[form_id]
            )
        return self.done[name]

    def _measure(self, r: Rendered) -> Rendered:
        r.printed = render.read_pdf(r.pdf)
        if self.keep:
            shutil.copy(r.pdf, self.keep / f"{r.name.replace(' ', '-')}.pdf")
            shutil.copy(r.xlsx, self.keep / f"{r.name.replace(' ', '-')}.xlsx")
        return r

    def _pdf(self, xlsx: Path) -> Path:
        pdf = xlsx.with_suffix(".pdf")
        self.lo.call("to_pdf", path=str(xlsx), out=str(pdf))
        return pdf

    def _path(self, name: str) -> Path:
        return self.folder / f"{name.replace(' ', '-')}.xlsx"

    def _vocab(self, form: Form, *more: str) -> list[str]:
        """Answer words: none that the blank workbook, a message or `more` shows."""
        blank = self.get(f"issued {form.id}")
        shown = set(blank.printed.words) | {w for c in blank.printed.cells for w in c.words}
        shown |= {w for m in CATALOGUE.values() for w in render.words(m.template)}
        shown |= {w for text in more for w in render.words(text)}
        return render.vocabulary(shown)

    def _issued(self, name: str, form: Form) -> Rendered:
        xlsx = self._path(name)
        xlsx.write_bytes(build_workbook(form, TEAM, CTX))
        return self._measure(Rendered(name, form, xlsx, self._pdf(xlsx)))

    def _pre_filled(self, name: str, form: Form) -> Rendered:
        vocab = self._vocab(form)
        doc, long = full_answers(form, random.Random(name), vocab)
        xlsx = self._path(name)
        xlsx.write_bytes(build_workbook(form, TEAM, CTX, doc))
        r = Rendered(name, form, xlsx, self._pdf(xlsx), answers=long, vocab=set(vocab))
        return self._measure(r)

    def _typed(self, name: str, form: Form) -> Rendered:
        vocab = self._vocab(form)
        doc, long = full_answers(form, random.Random(name), vocab)
        blank = self.folder / f"{name.replace(' ', '-')}-blank.xlsx"
        blank.write_bytes(build_workbook(form, TEAM, CTX))
        xlsx = self._path(name)
        pdf = xlsx.with_suffix(".pdf")
        self.lo.call(
            "fill_read",
            path=str(blank),
            edits=edits_for(form, doc),
            out=str(xlsx),
            filter="xlsx",
            pdf=str(pdf),
        )
        return self._measure(Rendered(name, form, xlsx, pdf, answers=long, vocab=set(vocab)))

    def _feedback(self, name: str, form: Form) -> Rendered:
        root = self.folder / name.replace(" ", "-") / "ws"
        ws = init_workspace(root, "Test Council", "2026-27", dt.date(2027, 3, 31))
        # The starter roster has ADV1, a commissioned service: it gets both forms.
        issued = {form_of(p): p for p in generate(ws, team_ids=["ADV1"])}
        team = next(t for t in read_roster(ws.roster_path) if t.team_id == "ADV1")
        wrong = WRONG[form.id]
        extra = [ws.council, ws.return_instructions, " ".join(dataclasses.astuple(team))]
        vocab = self._vocab(form, *extra, *(str(v) for v in wrong.values() if v))
        doc, long = full_answers(form, random.Random(name), vocab)
        for path, value in wrong.items():
            _put(doc, path, value)
        long = {k: v for k, v in long.items() if k.rsplit(" ", 1)[1] not in wrong}
        fill_workbook(issued[form.id], ws.returns_dir / f"ADV1 {form.id}.xlsx", doc, form)
        collect_and_report(ws)
        written = [p for p in (ws.reports_dir / "feedback").glob("*.xlsx") if form_of(p) == form.id]
        assert len(written) == 1, f"collect wrote no feedback workbook for {form.id}: {written}"
        xlsx = self._path(name)
        shutil.copy(written[0], xlsx)
        r = Rendered(name, form, xlsx, self._pdf(xlsx), answers=long, vocab=set(vocab))
        return self._measure(r)

    def figures(self) -> dict[str, Any]:
        return {name: self.figures_of(r) for name, r in self.done.items()}

    def figures_of(self, r: Rendered) -> dict[str, Any]:
        if r.name not in self.cached:
            p = r.printed
            self.cached[r.name] = {
                "pages": len(p.page_sizes),
                "smallest_pt": round(p.smallest_pt, 2),
                "smallest_pt_per_page": [round(s, 2) for s in p.page_sizes],
                "pages_under_8pt": sum(s < MIN_PT for s in p.page_sizes),
                "hidden_words": p.hidden_words,
                "fonts": p.fonts,
                **self._answer_figures(r),
                **self._guidance_figures(r),
            }
        return self.cached[r.name]

    @staticmethod
    def _answer_figures(r: Rendered) -> dict[str, Any]:
        if not r.answers:
            return {}
        p = r.printed
        missing = render.missing_words(p, r.answers)
        deficit = render.count_deficit(r.answers.values(), p.words, r.vocab)
        return {
            "long_answers": len(r.answers),
            "answer_words": sum(len(render.words(v)) for v in r.answers.values()),
            "answer_words_missing": sum(deficit.values()),
            "answers_cut_off": {
                k: f"{len(m)} of {len(render.words(r.answers[k]))} words missing, "
                f"from: {' '.join(m[:8])}{' …' if len(m) > 8 else ''}"
                for k, m in missing.items()
                if m
            },
            "missing_words": deficit,
        }

    @staticmethod
    def _guidance_figures(r: Rendered) -> dict[str, Any]:
        texts = guidance(r.form)
        missing = render.missing_words(r.printed, texts)
        return {
            "guidance_texts": len(texts),
            "guidance_cut_off": {k: " ".join(m) for k, m in missing.items() if m},
        }


def need_pdfplumber() -> None:
    """Like LibreOffice: missing in CI is a failure, on a developer's machine a skip."""
    why = render.pdfplumber_missing()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"The printing tests must run in CI: {why}")
        pytest.skip(why)


@pytest.fixture(scope="module")
def printer(libreoffice, tmp_path_factory):
    need_pdfplumber()
    folder = tmp_path_factory.mktemp("print")
    p = Printer(libreoffice, folder)
    yield p
    figures = p.figures()
    report = folder / "print-figures.json"
    report.write_text(json.dumps(figures, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"\nPrinted figures ({report}):")
    for name, f in figures.items():
        print(
            f"  {name}: {f['pages']} pages, smallest {f['smallest_pt']} pt, "
            f"{f['pages_under_8pt']} pages under {MIN_PT} pt; per page {f['smallest_pt_per_page']}"
        )
        if "answer_words" in f:
            print(
                f"    {f['long_answers']} full-length answers, {f['answer_words']} words: "
                f"{f['answer_words_missing']} missing, {len(f['answers_cut_off'])} answers cut off"
            )
        print(
            f"    {f['guidance_texts']} guidance texts: {len(f['guidance_cut_off'])} cut off; "
            f"{f['hidden_words']} words drawn but clipped away; fonts {list(f['fonts'])}"
        )


# --- the measure itself ----------------------------------------------------------------


def test_the_measure_is_the_printed_size_after_scaling(libreoffice, tmp_path):
    """A 10 pt font printed at 50% measures 5 pt: the scaling is in what we measure."""
    need_pdfplumber()
    import xlsxwriter

    path = tmp_path / "scaled.xlsx"
    wb = xlsxwriter.Workbook(path)
    fmt = wb.add_format({"font_name": "Arial", "font_size": 10})
    for scale in (100, 50):
        ws = wb.add_worksheet(f"At {scale}")
        ws.write_string(0, 0, f"Printed at {scale} percent", fmt)
        ws.set_paper(9)
        ws.set_print_scale(scale)
    wb.close()
    pdf = tmp_path / "scaled.pdf"
    libreoffice.call("to_pdf", path=str(path), out=str(pdf))
    printed = render.read_pdf(pdf)
    assert printed.page_sizes == pytest.approx([10.0, 5.0], abs=0.05), printed.page_sizes
    assert render.smallest_text_pt(pdf) == pytest.approx(5.0, abs=0.05)
    assert "Printed at 50 percent" in render.pdf_text(pdf)


def test_text_a_cell_clips_is_not_counted_as_printed(libreoffice, tmp_path):
    """LibreOffice draws a clipped cell's hidden lines into the PDF; they do not count."""
    need_pdfplumber()
    import xlsxwriter

    path = tmp_path / "clipped.xlsx"
    wb = xlsxwriter.Workbook(path)
    wrap = wb.add_format(
        {"font_name": "Arial", "font_size": 10, "text_wrap": True, "valign": "top"}
    )
    ws = wb.add_worksheet("Clipped")
    ws.set_column(0, 0, 20)
    text = " ".join(render.vocabulary()[:40])
    ws.write_string(0, 0, text, wrap)
    ws.set_row(0, 30)  # two lines of about eight
    ws.write_string(1, 0, "below", wrap)
    wb.close()
    pdf = tmp_path / "clipped.pdf"
    libreoffice.call("to_pdf", path=str(path), out=str(pdf))
    printed = render.read_pdf(pdf)
    missing = render.missing_words(printed, {"A1": text, "A2": "below"})
    assert missing["A2"] == []
    assert 20 < len(missing["A1"]) < 40, missing
    assert missing["A1"] == render.words(text)[-len(missing["A1"]) :]  # the lines below
    assert printed.hidden_words > 0
    assert set(missing["A1"]).isdisjoint(printed.words)


# --- the workbooks ----------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_printed_page_is_legible(printer, variant):
    r = printer.get(variant)
    sizes = r.printed.page_sizes
    small = {n: round(s, 2) for n, s in enumerate(sizes, 1) if s < MIN_PT}
    assert sizes, f"{variant}: the PDF has no pages"
    assert not small, (
        f"{variant}: {len(small)} of {len(sizes)} printed pages have text under "
        f"{MIN_PT} pt (page: smallest pt): {small}; fonts used: {r.printed.fonts}"
    )


# Fonts with the widths of Excel's: Liberation for Arial, Times and Courier, Carlito for
# Calibri, Caladea for Cambria (OpenSymbol draws symbols such as ✓).
METRIC_COMPATIBLE = ("Liberation", "Carlito", "Caladea", "OpenSymbol")


@pytest.mark.parametrize("variant", VARIANTS)
def test_text_prints_in_fonts_as_wide_as_excels(printer, variant):
    """The workbooks ask for Arial (and Calibri, the default). Without fonts-liberation and
    fonts-crosextra-carlito, LibreOffice prints them in DejaVu Sans, about a fifth wider,
    so "fit to one page wide" prints smaller than Excel would: every size measured here
    would be wrong. A few symbols (✎ ✓ ✗) may come from DejaVu Sans."""
    fonts = printer.get(variant).printed.fonts
    total = sum(fonts.values()) or 1
    other = {f: n for f, n in fonts.items() if not f.startswith(METRIC_COMPATIBLE)}
    assert sum(other.values()) / total < 0.05, (
        f"{variant}: {sum(other.values())} of {total} printed characters are in fonts "
        f"without Excel's widths: {other}. Install fonts-liberation and "
        "fonts-crosextra-carlito (apt-get install fonts-liberation fonts-crosextra-carlito)."
    )


@pytest.mark.parametrize("variant", [v for v in VARIANTS if not v.startswith("issued")])
def test_full_length_answers_print_word_for_word(printer, variant):
    r = printer.get(variant)
    f = printer.figures_of(r)
    assert not f["missing_words"] and not f["answers_cut_off"], (
        f"{variant}: {f['answer_words_missing']} of {f['answer_words']} words of "
        f"{f['long_answers']} full-length answers do not print; "
        f"{len(f['answers_cut_off'])} answers are cut off:\n"
        + "\n".join(f"  {k}: {v}" for k, v in f["answers_cut_off"].items())
    )


@pytest.mark.parametrize("variant", VARIANTS)
def test_guidance_prints_word_for_word(printer, variant):
    r = printer.get(variant)
    cut = printer.figures_of(r)["guidance_cut_off"]
    assert not cut, f"{variant}: {len(cut)} guidance texts are cut off:\n" + "\n".join(
        f"  {k}: missing {v}" for k, v in cut.items()
    )
