"""Examine one return: identify, extract, normalise and validate it.

The result is data (an outcome, the normalised document, and every issue with its file,
sheet, cell and plain-English message), used alike by `collect` (which records it) and by
`validate` (which only reports it).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import explain, identity
from .extract import Extracted, Located, extract
from .identify import Identified, Rejection, blame, folder_team, identify
from .issued import kept_forms
from .issues import DEFAULTS, Issue, issue
from .messages import Code, Severity, render, severity
from .normalise import Note, normalise
from .pack import META_SHEET, Form, Pack, Rule, builtin_pack_dir, shared_pack
from .place import Place
from .read import RawWorkbook, ReadProblem, read_many
from .register import Register
from .roster import read_roster
from .rules import CHECKS, comparable, shown
from .validate import schema_problems
from .workspace import Workspace, register_path

# Read problems that mean "try again later": the file may still be copying or syncing.
PENDING_CODES = {"truncated"}
# The reader's word for each problem (ReadProblem.code) -> its catalogue code.
READ_CODES: dict[str, Code] = {
    "empty": Code.READ_EMPTY,
    "not_a_workbook": Code.READ_NOT_A_WORKBOOK,
    "truncated": Code.READ_TRUNCATED,
    "encrypted": Code.READ_ENCRYPTED,
    "csv": Code.READ_CSV,
    "too_large": Code.READ_TOO_LARGE,
    "xml_attack": Code.READ_XML_ATTACK,
    "bad_xml": Code.READ_BAD_XML,
    "no_workbook_part": Code.READ_NO_WORKBOOK_PART,
    "timeout": Code.READ_TIMEOUT,
    "crashed": Code.READ_CRASHED,
    "unreadable": Code.READ_UNREADABLE,
    "changing": Code.READ_CHANGING,
    "no_permission": Code.READ_NO_PERMISSION,
}
_FLAG_CODES = {
    "macros": Code.CONTENT_MACROS,
    "external_links": Code.CONTENT_EXTERNAL_LINKS,
    "data_connections": Code.CONTENT_DATA_CONNECTIONS,
}


@dataclass
class Examined:
    """What one file turned out to be."""

    outcome: str  # accepted | rejected | pending
    code: str = ""
    reason: str = ""
    identity: dict[str, str] | None = None
    document: dict[str, Any] | None = None
    issues: list[Issue] = field(default_factory=list)
    # A rejected file's (team_id, form) as its identity claims, when that could be read.
    claimed: tuple[str, str] | None = None
    # A returned feedback workbook: each query's explanation the team typed, by its key.
    explanations: dict[explain.Key, str] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return self.outcome == "accepted" and not any(i.is_error for i in self.issues)


@dataclass(frozen=True)
class Context:
    """What a return is checked against: this workspace's pack, secret, cycle and roster.

    Outside a workspace, secret, cycle and roster are None: they are not checked."""

    pack: Pack
    secret: bytes | None
    cycle: str | None
    team_ids: frozenset[str] | None
    # Teams issued a workbook this cycle (a team removed from the roster since is still
    # known), and the kept pack folder of each form version the pack no longer has.
    issued_teams: frozenset[str] = frozenset()
    kept: tuple[tuple[tuple[str, str], str], ...] = ()

    @classmethod
    def of(cls, ws: Workspace) -> Context:
        teams = frozenset(t.team_id for t in read_roster(ws.roster_path))
        issued_teams, kept = _what_was_issued(ws)
        return cls(ws.pack, ws.secret, ws.cycle, teams, issued_teams, kept)

    @functools.cached_property
    def kept_forms(self) -> dict[tuple[str, str], Form]:
        """(form, version) -> that version's form, from the pack kept when it issued."""
        return {key: shared_pack(folder).forms[key[0]] for key, folder in self.kept}

    @classmethod
    def outside(cls) -> Context:
        """No workspace: the built-in pack, and no signature, cycle or roster to check."""
        return cls(shared_pack(str(builtin_pack_dir())), None, None, None)

    @property
    def boxes(self) -> dict[str, tuple[int, int]]:
        """The sheets a return needs read, each only as far as its answers and labels go."""
        # A feedback workbook's explanations: parsed only where that sheet exists.
        boxes = {META_SHEET: (len(identity.KEYS) + 2, 2), explain.SHEET: explain.BOX}
        for form in [*self.pack.forms.values(), *self.kept_forms.values()]:
            for plan in form.sheets:
                rows, cols = boxes.get(plan.name, (0, 0))
                # The last column holds only our own "Still to do" formulas: skip it.
                boxes[plan.name] = (max(rows, plan.last_row), max(cols, plan.last_col - 1))
        return boxes

    def spec(self) -> ContextSpec:
        return ContextSpec(
            str(self.pack.dir), self.secret, self.cycle, self.team_ids, self.issued_teams, self.kept
        )


@dataclass(frozen=True)
class ContextSpec:
    """A Context small enough to send to worker processes; each loads the pack once."""

    pack_dir: str
    secret: bytes | None
    cycle: str | None
    team_ids: frozenset[str] | None
    issued_teams: frozenset[str] = frozenset()
    kept: tuple[tuple[tuple[str, str], str], ...] = ()


def examine_in_worker(spec: ContextSpec, path: str, result: RawWorkbook | ReadProblem) -> Examined:
    """Runs in a reader worker: examine the file there, so validation uses every core."""
    pack = shared_pack(spec.pack_dir)
    ctx = Context(pack, spec.secret, spec.cycle, spec.team_ids, spec.issued_teams, spec.kept)
    return examine(result, "", ctx)


def _what_was_issued(
    ws: Workspace,
) -> tuple[frozenset[str], tuple[tuple[tuple[str, str], str], ...]]:
    """The teams issued a workbook this cycle, and the kept pack of each older version."""
    with Register.read_only(register_path(ws)) as reg:
        teams = frozenset(r.team_id for r in reg.issued(ws.cycle))
        return teams, tuple(sorted(kept_forms(ws, reg).items()))


def relabel(ex: Examined, file: str, team_ids: frozenset[str]) -> Examined:
    """Name the file on every issue, and query a return filed in another team's folder."""
    ex.issues = [i.in_file(file) for i in ex.issues]
    folder = folder_team(file, team_ids)
    if ex.identity and folder and folder != ex.identity["team_id"]:
        ex.issues.append(
            issue(Code.IDENTIFY_WRONG_FOLDER, file, folder=folder, team=ex.identity["team_id"])
        )
    return ex


def examine(result: RawWorkbook | ReadProblem, file: str, ctx: Context) -> Examined:
    """Identify, extract, normalise and validate one return read from `file`."""
    if isinstance(result, ReadProblem):
        outcome = "pending" if result.code in PENDING_CODES else "rejected"
        code = READ_CODES[result.code]
        return Examined(outcome, code, render(code, **{**DEFAULTS, "detail": result.detail}))
    kept = ctx.kept_forms if ctx.kept else None
    who = identify(result, ctx.pack, ctx.secret, ctx.cycle, ctx.team_ids, ctx.issued_teams, kept)
    if isinstance(who, Rejection):
        return _rejected(who)
    found = extract(result, who.form)
    if isinstance(found, Rejection):
        return _rejected(blame(found, who), (who.identity["team_id"], who.identity["form"]))
    document, issues = _document(result, who, found, file)
    issues = _file_issues(result, file) + issues + _version_issues(ctx.pack, who, document, file)
    ex = Examined("accepted", "", "", who.identity, document, issues)
    if explain.SHEET in result.cells:
        ex.explanations = explain.read_explanations(result)
    return ex


def _version_issues(
    pack: Pack, who: Identified, document: dict[str, Any], file: str
) -> list[Issue]:
    """A team off the roster since issue (a query: recorded, not chased), and each answer
    to a question the pack's version now has removed (a notice: kept, never dropped)."""
    out = []
    if who.off_roster:
        out.append(issue(Code.IDENTIFY_NOT_ON_ROSTER, file, team=who.identity["team_id"]))
    now = pack.forms.get(who.form.id)
    if now is not None and now.version != who.form.version:
        for path in now.removed:
            if found_answer(document, path):
                asked = who.form.input_of(path)
                label = asked.field.title if asked else path
                code = Code.VERSION_REMOVED_ANSWER
                out.append(
                    issue(
                        code,
                        file,
                        label=label,
                        field_path=path,
                        field=label,
                        path=path,
                        version=who.form.version,
                        now=now.version,
                    )
                )
    return out


def found_answer(document: Any, path: str) -> bool:
    """Whether `path` (dotted; through table rows) holds anything in `document`."""
    head, _, rest = path.partition(".")
    if isinstance(document, list):
        return any(found_answer(item, path) for item in document)
    if not isinstance(document, dict) or head not in document:
        return False
    value = document[head]
    if rest:
        return found_answer(value, rest)
    return value not in (None, "", [], {})


def _rejected(rejection: Rejection, claimed: tuple[str, str] | None = None) -> Examined:
    return Examined(
        "rejected",
        rejection.code,
        render(rejection.code, **{**DEFAULTS, **rejection.values}),
        claimed=rejection.claimed or claimed,
    )


def _file_issues(raw: RawWorkbook, file: str) -> list[Issue]:
    return [issue(_FLAG_CODES[f], file) for f in sorted(raw.flags) if f in _FLAG_CODES]


def _document(
    raw: RawWorkbook, who: Identified, found: Extracted, file: str
) -> tuple[dict[str, Any], list[Issue]]:
    ident = {k: who.identity[k] for k in ("form", "form_version", "cycle", "team_id")}
    return answers(who.form, ident, found, raw.date1904, file, dt.date.today())


def answers(
    form: Form,
    ident: dict[str, Any],
    found: Extracted,
    date1904: bool,
    file: str,
    today: dt.date | None,
) -> tuple[dict[str, Any], list[Issue]]:
    """The normalised document of located answer cells, and every issue with its cell.

    This one verdict is what `collect` records and what a workbook's live checks show
    (the generator asks it for the values those checks hold before any recalculation).
    """
    doc: dict[str, Any] = dict(ident)
    issues: list[Issue] = []
    untrusted: set[tuple[Any, ...]] = set()  # cells whose own problem is already said
    for loc in found.inputs:
        parts = loc.field.parts
        node = doc
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        if loc.cell is None:
            continue  # never typed in: nothing to normalise or say
        value, notes = normalise(loc.field, loc.cell, date1904)
        if notes and _noted(notes, loc, _name(form, found, loc), parts, file, issues):
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
            item, marked = _row(form, found, path, len(items), cells, date1904, file, issues)
            if marked:
                untrusted.update((path, len(items), key) for key in marked)
            if item or marked:  # a row of blanks takes no index: the next row takes it
                items.append(item)
                kept[path].append(cells)
    where: dict[tuple[Any, ...], Located] | None = None
    if not form.is_valid(doc):
        where = _where(found, kept)
        issues += _schema_issues(form, found, doc, where, untrusted, file)
    if form.rules:
        where = where or _where(found, kept)
        issues += _rule_issues(form, found, doc, where, issues, today, file)
    return doc, issues


def _name(form: Form, found: Extracted, loc: Located) -> str:
    """The question of a located cell in words, naming its item or table row."""
    table = next((t for t in form.tables if loc.field in t.columns), None)
    if table is not None:
        first = found.first.get(table.path)
        offset = (first.row - table.first_row) if first else 0
        return table.name(loc.row - offset, loc.field)
    spot = form.input_of(loc.field.path)
    return spot.name if spot else loc.field.title


def _row(
    form: Form,
    found: Extracted,
    path: str,
    index: int,
    cells: list[Located],
    date1904: bool,
    file: str,
    issues: list[Issue],
) -> tuple[dict[str, Any], set[str]]:
    """One table row as a document item, and the keys of its cells that have a problem
    of their own (an error value, a formula): those make the row count, even blank."""
    item: dict[str, Any] = {}
    marked: set[str] = set()
    for loc in cells:
        if loc.cell is None:
            continue
        value, notes = normalise(loc.field, loc.cell, date1904)
        at = (path, index, loc.field.key)
        if notes and _noted(notes, loc, _name(form, found, loc), at, file, issues):
            marked.add(loc.field.key)
        if value is not None:
            item[loc.field.key] = value
    return item, marked


def _noted(
    notes: Sequence[Note],
    loc: Located,
    name: str,
    at: tuple[Any, ...],
    file: str,
    issues: list[Issue],
) -> bool:
    """Add a cell's notes to the issues; True if one is an error of the cell's own (a
    formula, an error value, a date out of range): the schema need not say more of it."""
    place = _place(loc, at)
    path = _dotted(at)
    issues.extend(Issue(Code(note.code), place, path, name, note.values, file) for note in notes)
    return any(severity(note.code) is Severity.ERROR for note in notes)


def _where(
    found: Extracted, kept: dict[str, list[list[Located]]]
) -> dict[tuple[Any, ...], Located]:
    """Where each document path was read from, to point a problem at its cell.
    Built only for a return with problems or rules."""
    where: dict[tuple[Any, ...], Located] = {loc.field.parts: loc for loc in found.inputs}
    for path, rows in kept.items():
        for index, cells in enumerate(rows):
            for loc in cells:
                where[(path, index, loc.field.key)] = loc
        where[(path,)] = found.first[path]
    return where


def _place(loc: Located, at: tuple[Any, ...]) -> Place:
    """The cell an answer was read from, with its table row when `at` (its document
    path) is in a table: (table, index, key)."""
    table_row = at[1] + 1 if len(at) > 1 and isinstance(at[1], int) else 0
    return Place(loc.sheet, loc.row, loc.col, table_row)


def _dotted(at: tuple[Any, ...]) -> str:
    return ".".join(map(str, at))


def _schema_issues(
    form: Form,
    found: Extracted,
    doc: dict[str, Any],
    where: dict[tuple[Any, ...], Located],
    untrusted: set[tuple[Any, ...]],
    file: str,
) -> list[Issue]:
    titles = {f.path: f.title for f in form.fields}
    out = []
    for p in schema_problems(form.validator, doc):
        if p.path in untrusted:
            continue  # already reported: the cell's own problem, not the schema's
        loc = where.get(p.path) or where.get(p.path[:1])
        values = dict(p.values)
        if "other" in values:
            parent = ".".join(str(x) for x in p.path[:-1] if not isinstance(x, int))
            values["other"] = titles.get(f"{parent}.{values['other']}", values["other"])
        if loc is None:
            label = _dotted(p.path)
            out.append(Issue(Code(p.code), Place(), label, label, values, file))
            continue
        label = _name(form, found, loc)
        if len(p.path) == 1:  # a whole table (too few rows): point at its first cell
            label = form.schema["properties"][p.path[0]].get("title", p.path[0])
        out.append(Issue(Code(p.code), _place(loc, p.path), _dotted(p.path), label, values, file))
    return out


def _rule_issues(
    form: Form,
    found: Extracted,
    doc: dict[str, Any],
    where: dict[tuple[Any, ...], Located],
    issues: list[Issue],
    today: dt.date | None,
    file: str,
) -> list[Issue]:
    """Each rule, where both answers are given and neither has an error of its own."""
    wrong = {(i.place.sheet, i.place.row, i.place.col) for i in issues if i.is_error}
    out = []
    for rule in form.rules:
        check = CHECKS[rule.code]
        for key, other_key in _rule_pairs(rule, doc):
            loc = where.get(key)
            other_loc = where.get(other_key) if other_key else None
            if loc is None or (other_key and other_loc is None):
                continue
            if (loc.sheet, loc.row, loc.col) in wrong or (
                other_loc and (other_loc.sheet, other_loc.row, other_loc.col) in wrong
            ):
                continue  # the answer itself is the problem: say that, not this
            a = comparable(rule.field.kind, _at(doc, key))
            b = (
                comparable(rule.other.kind, _at(doc, other_key))
                if rule.other and other_key
                else today
            )
            if a is None or b is None or check.holds(a, b):
                continue
            other = _name(form, found, other_loc) if other_loc else ""
            values = {"value": shown(a), "limit": shown(b), "other": other}
            values["today"] = shown(today)
            name = _name(form, found, loc)
            out.append(Issue(Code(rule.code), _place(loc, key), _dotted(key), name, values, file))
    return out


def _rule_pairs(
    rule: Rule, doc: dict[str, Any]
) -> Iterator[tuple[tuple[Any, ...], tuple[Any, ...] | None]]:
    """The document paths a rule compares: once, or once per row of its table."""
    other = rule.other
    if not rule.table:
        yield rule.field.parts, (other.parts if other else None)
        return
    rows = doc.get(rule.table) or []
    for index in range(len(rows)):
        mine = (rule.table, index, rule.field.key)
        if other is None:
            yield mine, None
        elif other.path.startswith(rule.table + "."):
            yield mine, (rule.table, index, other.key)
        else:
            yield mine, other.parts


def _at(doc: dict[str, Any], path: tuple[Any, ...] | None) -> Any:
    node: Any = doc
    for part in path or ():
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and part < len(node) else None
        else:
            node = node.get(part) if isinstance(node, dict) else None
    return node


def examine_stream(ctx: Context, paths: Iterable[str]) -> Iterator[tuple[str, Examined]]:
    """Read and examine files in worker processes, as `paths` yields them (issues not yet
    labelled with a file). Always in workers, even for one file: a hostile file may
    crash its reader."""
    spec = ctx.spec()
    # Warm the pack here: forked workers inherit it instead of each loading and compiling.
    for form in [*ctx.pack.forms.values(), *ctx.kept_forms.values()]:
        form.is_valid({})
    shared_pack(spec.pack_dir, ctx.pack)
    then = functools.partial(examine_in_worker, spec)
    return read_many(paths, 0, 0, boxes=ctx.boxes, then=then, workers=2)


def examine_files(ctx: Context, paths: list[str]) -> dict[str, Examined]:
    return dict(examine_stream(ctx, paths)) if paths else {}


def validate_files(ws: Workspace | None, paths: list[str]) -> list[tuple[str, Examined]]:
    """Examine files without recording anything (the `validate` command). With no
    workspace, everything but the signature, cycle and roster is checked, and each
    accepted file gets a query saying so."""
    ctx = Context.of(ws) if ws else Context.outside()
    found = examine_files(ctx, paths)
    out = [(p, relabel(found[p], p, ctx.team_ids or frozenset())) for p in paths]
    if ws is None:
        for p, ex in out:
            if ex.outcome == "accepted":
                ex.issues.append(issue(Code.IDENTIFY_UNVERIFIED, p))
    return out
