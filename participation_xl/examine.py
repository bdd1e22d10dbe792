"""Examine one return: identify, extract, normalise and validate it.

The result is data (an outcome, the normalised document, and every issue with its file,
sheet, cell and plain-English message), used alike by `collect` (which records it) and by
`validate` (which only reports it).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
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
    where: dict[tuple[Any, ...], Located] = {}
    untrusted: set[tuple[Any, ...]] = set()
    for loc in found.inputs:
        parts = tuple(loc.field.path.split("."))
        node = doc
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        value = _take(raw, loc, file, issues, untrusted, parts)
        if value is not None:
            node[parts[-1]] = value
        where[parts] = loc
    for path, rows in found.tables.items():
        doc[path] = []
        for cells in rows:
            if cells is None:
                continue  # a row never touched: nothing to read or say
            item = {}
            for loc in cells:
                key = (path, len(doc[path]), loc.field.key)
                value = _take(raw, loc, file, issues, untrusted, key)
                if value is not None:
                    item[loc.field.key] = value
                where[key] = loc
            if item or any((path, len(doc[path]), c.field.key) in untrusted for c in cells):
                doc[path].append(item)
            else:
                for loc in cells:  # a blank row: forget its cells so the next row takes its index
                    where.pop((path, len(doc[path]), loc.field.key), None)
        where[(path,)] = found.first[path]
    issues += _schema_issues(who.form, doc, where, untrusted, file)
    return doc, issues


def _take(
    raw: RawWorkbook,
    loc: Located,
    file: str,
    issues: list[dict[str, Any]],
    untrusted: set[tuple[Any, ...]],
    key: tuple[Any, ...],
) -> Any:
    value, notes = normalise(loc.field, loc.cell, raw.date1904)
    for note in notes:
        issues.append(_cell_issue(note, loc, file))
        if note.code in ("content.formula", "content.dde"):
            untrusted.add(key)
    return value


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
    if form.is_valid(doc):
        return []
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
