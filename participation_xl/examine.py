"""Examine one return: identify, extract, normalise and validate it.

The result is data (an outcome, the normalised document, and every issue with its file,
sheet, cell and plain-English message), used alike by `collect` (which records it) and by
`validate` (which only reports it).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from xlsxwriter.utility import xl_rowcol_to_cell

from . import identity
from .extract import Extracted, Located, extract
from .identify import Identified, Rejection, folder_team, identify
from .messages import render, severity
from .normalise import Note, normalise
from .pack import META_SHEET, Form, Pack, shared_pack
from .read import RawWorkbook, ReadProblem, read_many
from .roster import read_roster
from .validate import schema_problems
from .workspace import Workspace

# Read problems that mean "try again later": the file may still be copying or syncing.
PENDING_CODES = {"truncated"}
_FLAG_CODES = {
    "macros": "content.macros",
    "external_links": "content.external_links",
    "data_connections": "content.data_connections",
}
_DEFAULTS = dict.fromkeys(
    ("value", "options", "limit", "length", "detail", "hint", "other", "fixed", "formula", "what"),
    "",
)


@dataclass
class Examined:
    """What one file turned out to be."""

    outcome: str  # accepted | rejected | pending
    code: str = ""
    reason: str = ""
    identity: dict[str, str] | None = None
    document: dict[str, Any] | None = None
    issues: list[dict[str, Any]] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.outcome == "accepted" and not any(i["severity"] == "error" for i in self.issues)


@dataclass(frozen=True)
class Context:
    """What a return is checked against: this workspace's pack, secret, cycle and roster."""

    pack: Pack
    secret: bytes
    cycle: str
    team_ids: frozenset[str]

    @classmethod
    def of(cls, ws: Workspace) -> Context:
        teams = frozenset(t.team_id for t in read_roster(ws.roster_path))
        return cls(ws.pack, ws.secret, ws.cycle, teams)

    @property
    def boxes(self) -> dict[str, tuple[int, int]]:
        """The sheets a return needs read, each only as far as its answers and labels go."""
        boxes = {META_SHEET: (len(identity.KEYS) + 2, 2)}
        for form in self.pack.forms.values():
            for plan in form.sheets:
                rows, cols = boxes.get(plan.name, (0, 0))
                # The last column holds only our own "Still to do" formulas: skip it.
                boxes[plan.name] = (max(rows, plan.last_row), max(cols, plan.last_col - 1))
        return boxes

    def spec(self) -> ContextSpec:
        return ContextSpec(str(self.pack.dir), self.secret, self.cycle, self.team_ids)


@dataclass(frozen=True)
class ContextSpec:
    """A Context small enough to send to worker processes; each loads the pack once."""

    pack_dir: str
    secret: bytes
    cycle: str
    team_ids: frozenset[str]


def examine_in_worker(spec: ContextSpec, path: str, result: RawWorkbook | ReadProblem) -> Examined:
    """Runs in a reader worker: examine the file there, so validation uses every core."""
    pack = shared_pack(spec.pack_dir)
    return examine(result, "", Context(pack, spec.secret, spec.cycle, spec.team_ids))


def relabel(ex: Examined, file: str, team_ids: frozenset[str]) -> Examined:
    """Name the file on every issue, and query a return filed in another team's folder."""
    for i in ex.issues:
        i["file"] = file
    folder = folder_team(file, team_ids)
    if ex.identity and folder and folder != ex.identity["team_id"]:
        ex.issues.append(
            issue("identify.wrong_folder", file, folder=folder, team=ex.identity["team_id"])
        )
    return ex


def issue(
    code: str, file: str, sheet: str = "", cell: str = "", label: str = "", **values: Any
) -> dict[str, Any]:
    """One issue in the shape `status --json` and the reports use."""
    text = render(code, **{**_DEFAULTS, "label": label, **values})
    return {
        "code": code,
        "severity": severity(code).value,
        "file": file,
        "sheet": sheet,
        "cell": cell,
        "field": label,
        "message": text,
    }


def examine(result: RawWorkbook | ReadProblem, file: str, ctx: Context) -> Examined:
    """Identify, extract, normalise and validate one return read from `file`."""
    if isinstance(result, ReadProblem):
        outcome = "pending" if result.code in PENDING_CODES else "rejected"
        code = f"read.{result.code}"
        return Examined(outcome, code, render(code, **{**_DEFAULTS, "detail": result.detail}))
    who = identify(result, ctx.pack, ctx.secret, ctx.cycle, ctx.team_ids)
    if isinstance(who, Rejection):
        return _rejected(who)
    found = extract(result, who.form)
    if isinstance(found, Rejection):
        return _rejected(found)
    document, issues = _document(result, who, found, file)
    issues = _file_issues(result, file) + issues
    return Examined("accepted", "", "", who.identity, document, issues)


def _rejected(rejection: Rejection) -> Examined:
    return Examined(
        "rejected", rejection.code, render(rejection.code, **{**_DEFAULTS, **rejection.values})
    )


def _file_issues(raw: RawWorkbook, file: str) -> list[dict[str, Any]]:
    return [issue(_FLAG_CODES[f], file) for f in sorted(raw.flags) if f in _FLAG_CODES]


def _document(
    raw: RawWorkbook, who: Identified, found: Extracted, file: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    doc: dict[str, Any] = {k: who.identity[k] for k in ("form", "form_version", "cycle", "team_id")}
    issues: list[dict[str, Any]] = []
    untrusted: set[tuple[Any, ...]] = set()  # cells whose formula is the problem
    date1904 = raw.date1904
    for loc in found.inputs:
        parts = loc.field.parts
        node = doc
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        if loc.cell is None:
            continue  # never typed in: nothing to normalise or say
        value, notes = normalise(loc.field, loc.cell, date1904)
        if notes and _noted(notes, loc, file, issues):
            untrusted.add(parts)
        if value is not None:
            node[parts[-1]] = value
    kept: dict[str, list[list[Located]]] = {}  # table path -> the rows in doc, in order
    for path, rows in found.tables.items():
        items: list[dict[str, Any]] = []
        doc[path], kept[path] = items, []
        for cells in rows:
            if cells is None:
                continue  # a row never touched: nothing to read or say
            item, marked = _row(path, len(items), cells, date1904, file, issues, untrusted)
            if item or marked:  # a row of blanks takes no index: the next row takes it
                items.append(item)
                kept[path].append(cells)
    if not who.form.is_valid(doc):
        issues += _schema_issues(who.form, doc, _where(found, kept), untrusted, file)
    return doc, issues


def _row(
    path: str,
    index: int,
    cells: list[Located],
    date1904: bool,
    file: str,
    issues: list[dict[str, Any]],
    untrusted: set[tuple[Any, ...]],
) -> tuple[dict[str, Any], bool]:
    """One table row as a document item, and whether a formula was found in it."""
    item: dict[str, Any] = {}
    marked = False
    for loc in cells:
        if loc.cell is None:
            continue
        value, notes = normalise(loc.field, loc.cell, date1904)
        if notes and _noted(notes, loc, file, issues):
            untrusted.add((path, index, loc.field.key))
            marked = True
        if value is not None:
            item[loc.field.key] = value
    return item, marked


def _noted(notes: Sequence[Note], loc: Located, file: str, issues: list[dict[str, Any]]) -> bool:
    """Add a cell's notes to the issues; True if its value cannot be trusted (a formula)."""
    issues.extend(_cell_issue(note, loc, file) for note in notes)
    return any(note.code in ("content.formula", "content.dde") for note in notes)


def _where(
    found: Extracted, kept: dict[str, list[list[Located]]]
) -> dict[tuple[Any, ...], Located]:
    """Where each document path was read from, to point a schema problem at its cell.
    Built only for a return with problems: most have none."""
    where: dict[tuple[Any, ...], Located] = {loc.field.parts: loc for loc in found.inputs}
    for path, rows in kept.items():
        for index, cells in enumerate(rows):
            for loc in cells:
                where[(path, index, loc.field.key)] = loc
        where[(path,)] = found.first[path]
    return where


def _cell_issue(note: Note, loc: Located, file: str) -> dict[str, Any]:
    return issue(
        note.code,
        file,
        loc.sheet,
        xl_rowcol_to_cell(loc.row - 1, loc.col - 1),
        loc.field.title,
        **note.values,
    )


def _schema_issues(
    form: Form,
    doc: dict[str, Any],
    where: dict[tuple[Any, ...], Located],
    untrusted: set[tuple[Any, ...]],
    file: str,
) -> list[dict[str, Any]]:
    titles = {f.path: f.title for f in form.fields}
    out = []
    for p in schema_problems(form.validator, doc):
        if p.path in untrusted:
            continue  # already reported: the formula is the problem, not the blank
        loc = where.get(p.path) or where.get(p.path[:1])
        values = dict(p.values)
        if "other" in values:
            parent = ".".join(str(x) for x in p.path[:-1] if not isinstance(x, int))
            values["other"] = titles.get(f"{parent}.{values['other']}", values["other"])
        if loc is None:
            out.append(issue(p.code, file, label=".".join(map(str, p.path)), **values))
            continue
        label = titles.get(loc.field.path, loc.field.title)
        if len(p.path) == 1:  # a whole table (too few rows): point at its first cell
            label = form.schema["properties"][p.path[0]].get("title", p.path[0])
        out.append(
            issue(
                p.code,
                file,
                loc.sheet,
                xl_rowcol_to_cell(loc.row - 1, loc.col - 1),
                label,
                **values,
            )
        )
    return out


def examine_stream(ctx: Context, paths: Iterable[str]) -> Iterator[tuple[str, Examined]]:
    """Read and examine files in worker processes, as `paths` yields them (issues not yet
    labelled with a file). Always in workers, even for one file: a hostile file may
    crash its reader."""
    spec = ctx.spec()
    # Warm the pack here: forked workers inherit it instead of each loading and compiling.
    for form in ctx.pack.forms.values():
        form.is_valid({})
    shared_pack(spec.pack_dir, ctx.pack)
    then = functools.partial(examine_in_worker, spec)
    return read_many(paths, 0, 0, boxes=ctx.boxes, then=then, workers=2)


def examine_files(ctx: Context, paths: list[str]) -> dict[str, Examined]:
    return dict(examine_stream(ctx, paths)) if paths else {}


def validate_files(ws: Workspace, paths: list[str]) -> list[tuple[str, Examined]]:
    """Examine files without recording anything (the `validate` command)."""
    ctx = Context.of(ws)
    found = examine_files(ctx, paths)
    return [(p, relabel(found[p], p, ctx.team_ids)) for p in paths]
