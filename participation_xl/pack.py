"""The template pack: JSON Schemas plus declarative layouts.

Everything a workbook shows or checks is derived here from the schema (labels, guidance,
dropdown options, bounds, required marks) and placed by the layout. The generator, the
reader's positional fallback and the pack check all use the same positions, so a cell is
never described twice.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import json
import string
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import fastjsonschema
import jsonschema

from .errors import PackError
from .messages import CATALOGUE, Code
from .rules import CHECKS

IDENTITY_FIELDS = ("form", "form_version", "cycle", "team_id")
META_SHEET = "_meta"
LISTS_SHEET = "Lists"
INSTRUCTIONS_SHEET = "Instructions"

# Rows above the first block on every form sheet: title, identity, banner, how-to, spacer.
HEADER_ROWS = 5
BANNER_ROW = 3  # 1-based


def _conforms(checker: jsonschema.FormatChecker, name: str, value: Any) -> bool:
    return checker.conforms(value, name)


def explainer(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    """jsonschema for a schema, with format checks: it lists every error, with its path."""
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def compile_check(schema: dict[str, Any]) -> Callable[[Any], bool]:
    """A fast yes/no for a schema (compiled code, ~20x jsonschema); jsonschema then
    explains only the documents that fail, with the same format checks."""
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    formats = {name: functools.partial(_conforms, checker, name) for name in ("date", "email")}
    fast = fastjsonschema.compile(_inline_refs(schema, schema.get("$defs", {})), formats=formats)

    def is_valid(document: Any) -> bool:
        try:
            fast(document)
        except fastjsonschema.JsonSchemaException:
            return False
        return True

    return is_valid


# Keywords whose values are schemas: one, a list of them, or a map of names to them.
_ONE_SCHEMA = {
    *("items", "additionalProperties", "not", "if", "then", "else", "contains"),
    *("propertyNames", "unevaluatedItems", "unevaluatedProperties"),
}
_SCHEMA_LIST = {"allOf", "anyOf", "oneOf", "prefixItems"}
_SCHEMA_MAP = {"properties", "patternProperties", "dependentSchemas"}
_DEFS = "#/$defs/"


def _inline_refs(schema: Any, defs: dict[str, Any], depth: int = 0) -> Any:
    """The schema with each "#/$defs/name" reference replaced by the definition itself.

    fastjsonschema compiles a reference into a call that formats an error path on every
    use, even when nothing is wrong: inlined, the audit check runs in 40% of the time.
    The meaning is unchanged: a reference's siblings still apply (merged where they do not
    overlap, else beside it in allOf), and $defs stays for anything left as a reference.
    """
    if not isinstance(schema, dict):
        return schema  # true or false
    out = {}
    for key, value in schema.items():
        if key in _ONE_SCHEMA:
            out[key] = _inline_refs(value, defs, depth)
        elif key in _SCHEMA_LIST and isinstance(value, list):
            out[key] = [_inline_refs(v, defs, depth) for v in value]
        elif key in _SCHEMA_MAP and isinstance(value, dict):
            out[key] = {name: _inline_refs(v, defs, depth) for name, v in value.items()}
        else:
            out[key] = value
    ref = out.get("$ref")
    name = ref[len(_DEFS) :] if isinstance(ref, str) and ref.startswith(_DEFS) else None
    if name is None or name not in defs or depth >= 8:  # 8: a definition using itself
        return out
    target = _inline_refs(defs[name], defs, depth + 1)
    del out["$ref"]
    if isinstance(target, dict) and not out.keys() & target.keys():
        return {**target, **out}
    return {**out, "allOf": [*out.get("allOf", []), target]}


def builtin_pack_dir() -> Path:
    """The pack shipped with the tool: inside the wheel, or at the top of a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_pack", here.parent):
        if (candidate / "schemas").is_dir() and (candidate / "workbook_templates").is_dir():
            return candidate
    raise PackError.of(Code.PACK_MISSING_BUILTIN)


@dataclass(frozen=True)
class Field:
    """One answer the schema defines, with everything needed to ask for it in Excel."""

    path: str
    title: str
    description: str
    kind: str  # text | email | integer | number | date | choice
    choices: tuple[str, ...] = ()
    choices_name: str = ""
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    required: bool = False
    # (sibling field path, values): required when the sibling holds one of the values.
    required_when: tuple[str, tuple[str, ...]] | None = None
    # Pre-filled from last cycle's return ("x-carry": false in the schema: an answer that
    # belongs to one year, like a date completed or a sign-off, starts blank).
    carry: bool = True

    @cached_property
    def key(self) -> str:
        return self.path.rsplit(".", 1)[-1]

    @cached_property
    def parts(self) -> tuple[str, ...]:
        return tuple(self.path.split("."))

    @property
    def optional(self) -> bool:
        return not self.required and self.required_when is None


@dataclass(frozen=True)
class Input:
    """One answer cell: a field at a fixed position, with the label beside it."""

    field: Field
    sheet: str
    row: int
    col: int
    label: str
    label_col: int

    @property
    def name(self) -> str:
        """The question in words, naming its item: which promise, right or standard."""
        if self.label == self.field.title:
            return self.label
        return f"{short(self.label)} – {self.field.title}"


def short(text: str, limit: int = 60) -> str:
    """A long label cut at a word, with an ellipsis: enough to say which item it is."""
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "…"


@dataclass(frozen=True)
class Rule:
    """A rule relating one answer to another (pack data; the check is in rules.CHECKS)."""

    code: Code
    field: Field
    other: Field | None  # None: the field is compared with today
    table: str = ""  # the table `field` is a column of, if any


@dataclass(frozen=True)
class CrossYear:
    """A query comparing a return with the same team's return of the previous cycle
    ([[cross_year]] in a form's layout; crossyear.py raises it)."""

    code: str
    kind: str  # "fell": a rating lower on the [report.ratings] scale; "emptied": a table
    paths: tuple[str, ...] = ()  # the rated answers a "fell" compares
    table: str = ""  # the table an "emptied" looks at


# The kinds of cross-year query, and the catalogue code each raises.
CROSS_YEAR_KINDS = {"fell": Code.YEAR_FELL, "emptied": Code.YEAR_EMPTIED}


@dataclass(frozen=True)
class Table:
    """A block of repeating rows: one schema array, one column per item field."""

    path: str
    title: str
    description: str
    sheet: str
    header_row: int
    first_row: int
    last_row: int
    first_col: int
    columns: tuple[Field, ...]
    min_items: int
    # Pre-filling from last cycle ("x-carry": false on the array: its rows belong to one
    # year; "x-carry-from": another table whose rows fill this one, column by same key).
    carry: bool = True
    carry_from: str = ""

    def col_of(self, key: str) -> int:
        return self._cols[key]

    @cached_property
    def _cols(self) -> dict[str, int]:
        return {c.key: self.first_col + n for n, c in enumerate(self.columns)}

    def name(self, row: int, f: Field) -> str:
        """A table cell in words: the table, the row number it shows, the column."""
        return f"{self.title}, row {row - self.first_row + 1}: {f.title}"

    @property
    def status_col(self) -> int:
        return self.first_col + len(self.columns)


@dataclass
class Block:
    """A rendered block: questions, a grid of fixed rows, or a table of repeating rows."""

    type: str
    title: str
    description: str
    heading_row: int
    header_row: int
    inputs: list[Input] = field(default_factory=list)
    row_labels: list[tuple[int, str]] = field(default_factory=list)
    column_titles: list[str] = field(default_factory=list)
    status_col: int = 0
    table: Table | None = None
    framework: str = ""


@dataclass
class SheetPlan:
    name: str
    blocks: list[Block]
    last_row: int
    last_col: int

    @property
    def has_table(self) -> bool:
        return any(b.type == "table" for b in self.blocks)

    @property
    def landscape(self) -> bool:
        return self.has_table or any(b.type == "grid" for b in self.blocks)


@dataclass
class Form:
    """One form of the pack: its schema, its layout and every derived cell."""

    id: str
    version: str
    title: str
    short_name: str
    intro: str
    schema: dict[str, Any]
    layout: dict[str, Any]
    sheets: list[SheetPlan] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    cross_year: list[CrossYear] = field(default_factory=list)
    why: str = ""  # why the form matters (for example UNCRC Article 12), in the pack's words
    # Said beside the framework's heading (for example that it is the council's own text).
    framework_note: str = ""
    # How answers given on an earlier version of this form map onto this one, by field
    # path (`renamed` and `removed` in the layout): read by the reports and the export.
    renamed: dict[str, str] = field(default_factory=dict)
    removed: tuple[str, ...] = ()

    @property
    def inputs(self) -> list[Input]:
        return [i for s in self.sheets for b in s.blocks for i in b.inputs]

    @property
    def tables(self) -> list[Table]:
        return [b.table for s in self.sheets for b in s.blocks if b.table]

    @property
    def fields(self) -> list[Field]:
        return [i.field for i in self.inputs] + [c for t in self.tables for c in t.columns]

    @cached_property
    def digest(self) -> str:
        """A fingerprint of the schema and layout a workbook is issued from: when it
        differs on collect, the pack changed after issue (the coordinator's to fix)."""
        text = json.dumps([self.schema, self.layout], sort_keys=True, default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    @cached_property
    def validator(self) -> jsonschema.Draft202012Validator:
        return explainer(self.schema)

    @cached_property
    def is_valid(self) -> Callable[[Any], bool]:
        """A fast yes/no (compiled code); jsonschema then explains only the invalid ones."""
        return compile_check(self.schema)

    @cached_property
    def _inputs_by_path(self) -> dict[str, Input]:
        return {i.field.path: i for i in self.inputs}

    def input_of(self, path: str) -> Input | None:
        return self._inputs_by_path.get(path)

    def choice_lists(self) -> dict[str, tuple[str, ...]]:
        """Each distinct dropdown list, by the defined name it lives behind."""
        return {f.choices_name: f.choices for f in self.fields if f.choices}


@dataclass
class Pack:
    """A template pack directory: its forms and which kind of team gets which form."""

    dir: Path
    name: str
    version: str
    forms: dict[str, Form]
    forms_for_kind: dict[str, list[str]]
    schemas_dir: Path
    # Suggested wording for explaining each query code ([explanations] in pack.toml),
    # shown beside the explanation cell of a feedback workbook.
    explanations: dict[str, str] = field(default_factory=dict)
    # What the reports show ([report] in pack.toml); empty: only what every pack has.
    report: ReportSpec = field(default_factory=lambda: ReportSpec())
    # The general how-to sections of every Instructions sheet ([instructions]).
    instructions: tuple[Section, ...] = ()

    def schema(self, name: str) -> dict[str, Any]:
        return _load_json(self.schemas_dir / f"{name}.schema.json")


@functools.cache
def builtin_schema(name: str) -> dict[str, Any]:
    """A schema of the built-in pack (roster, config), read once per process."""
    return _load_json(builtin_pack_dir() / "schemas" / f"{name}.schema.json")


def load_pack(directory: str | Path | None = None) -> Pack:
    """Load and lay out a template pack (the built-in one when no directory is given)."""
    root = Path(directory) if directory else builtin_pack_dir()
    templates, schemas = root / "workbook_templates", root / "schemas"
    if not templates.is_dir() or not schemas.is_dir():
        raise PackError.of(Code.PACK_NOT_A_PACK, path=root)
    meta = _load_toml(templates / "pack.toml")
    _check_shape(templates / "pack.toml", meta, "pack")
    forms, sources = {}, {}
    for path in sorted(templates.glob("*.toml")):
        if path.name == "pack.toml":
            continue
        layout = _load_toml(path)
        _check_shape(path, layout, "layout")
        schema_path = schemas / layout["schema"]
        schema = _load_json(schema_path)
        if not isinstance(schema, dict):
            problem = f"it holds a JSON {type(schema).__name__}, not an object"
            raise PackError.of(Code.PACK_SCHEMA, path=schema_path, problem=problem)
        forms[layout["form"]] = _built(layout, schema, path, schema_path)
        sources[layout["form"]] = path
    report = _report(meta.get("report", {}), forms, templates / "pack.toml")
    for form in forms.values():  # after [report]: "fell" is on its ratings scale
        form.cross_year = [
            _cross_year(form, spec, report, sources[form.id])
            for spec in form.layout.get("cross_year", [])
        ]
    return Pack(
        dir=root,
        name=meta.get("name", root.name),
        version=str(meta.get("version", "")),
        forms=forms,
        forms_for_kind={k: list(v) for k, v in meta.get("forms", {}).items()},
        schemas_dir=schemas,
        explanations=dict(meta.get("explanations", {})),
        report=report,
        instructions=_sections(meta.get("instructions", {}), templates / "pack.toml"),
    )


def _cross_year(form: Form, spec: dict[str, Any], report: ReportSpec, source: Path) -> CrossYear:
    """One [[cross_year]] entry, checked: a known kind with its code, and what it compares.
    A "fell" names rated answers (a `*` part stands for every row of a grid) whose choices
    hold at least two words of the [report.ratings] scale; an "emptied" names a table."""
    kind, code = spec.get("kind"), spec.get("code")
    ratings = report.ratings
    if kind == "fell" and code == CROSS_YEAR_KINDS["fell"]:
        # Without [report.ratings] there is no scale: the query is kept, and raises nothing.
        scale = set(ratings.met + ratings.partly_met + ratings.not_met) if ratings else None
        paths = tuple(
            i.field.path
            for i in form.inputs
            if _matches(str(spec.get("field", "")), i.field.path)
            and len(set(i.field.choices) & scale if scale is not None else i.field.choices) >= 2
        )
        if paths and "table" not in spec:
            return CrossYear(code, kind, paths=paths)
    tables = {t.path for t in form.tables}
    if kind == "emptied" and code == CROSS_YEAR_KINDS["emptied"] and "field" not in spec:  # noqa: SIM102
        if spec.get("table") in tables:
            return CrossYear(code, kind, table=spec["table"])
    known = ", ".join(f"{k} = {c}" for k, c in CROSS_YEAR_KINDS.items())
    raise PackError.of(Code.PACK_CROSS_YEAR, path=source, spec=repr(spec), known=known)


def _matches(pattern: str, path: str) -> bool:
    """A dotted path against a pattern whose `*` parts stand for any one part."""
    want, have = pattern.split("."), path.split(".")
    return len(want) == len(have) and all(w in ("*", h) for w, h in zip(want, have, strict=True))


# --- what the reports show ([report] in pack.toml) -------------------------------------


@dataclass(frozen=True)
class Ratings:
    """A framework a form rates (each row of a grid rated on a scale): which ratings are
    met, partly met and not met, and the action plan a rating short of met needs."""

    form: str
    group: str  # the grid whose rows are rated (a schema object path)
    rating: str  # the rating's field key in each row
    framework: str  # the framework's name, as the sheets title it
    labels: dict[str, str]  # a row's short name by its key
    met: tuple[str, ...]
    partly_met: tuple[str, ...]
    not_met: tuple[str, ...]
    action_plan: dict[str, str]  # role (action, owner, due) -> field key in the row
    provider: str = ""  # the field that names the provider (a dotted path), if any

    @property
    def short_of_met(self) -> tuple[str, ...]:
        return (*self.partly_met, *self.not_met)

    def fill(self, word: str) -> str:
        """The RAG colour of a rating: good, amber, bad, or '' for a word off the scale."""
        for words, colour in ((self.met, "good"), (self.partly_met, "amber"),
                              (self.not_met, "bad")):  # fmt: skip
            if word in words:
                return colour
        return ""

    def label(self, key: str) -> str:
        return self.labels.get(key) or key.replace("_", " ").capitalize()


@dataclass(frozen=True)
class SelfRatings:
    """Grids of statements a team rates itself on, counted on the compliance Dashboard."""

    form: str
    groups: tuple[str, ...]
    rating: str


@dataclass(frozen=True)
class Log:
    """A table of a form printed on the register, one row per entry, on its own sheet."""

    form: str
    table: str
    sheet: str
    printed: tuple[str, ...]  # column keys printed; empty: every column


@dataclass(frozen=True)
class Signing:
    """A form's sign-up table, from which the register of signatories is made."""

    form: str
    table: str
    title: str
    columns: dict[str, str]  # name, role, organisation, date_signed -> column key


@dataclass(frozen=True)
class ReportSpec:
    """[report] in pack.toml: which form plays each part the reports show."""

    sheets: dict[str, str] = field(default_factory=dict)  # form id -> register sheet
    ratings: Ratings | None = None
    self_ratings: SelfRatings | None = None
    logs: tuple[Log, ...] = ()
    sign_up: Signing | None = None


@dataclass(frozen=True)
class Section:
    """One heading of an Instructions sheet and its (label, text) lines; the text may
    hold {due}, {return_to}, {council} and {cycle}, filled in when a workbook is made."""

    heading: str
    lines: tuple[tuple[str, str], ...]


# What the text of [instructions] may hold, filled in when a workbook is generated.
PLACEHOLDERS = ("due", "return_to", "council", "cycle")


def _sections(data: dict[str, Any], source: Path) -> tuple[Section, ...]:
    """[instructions] sections, each text checked to hold only the known placeholders."""
    out = []
    for s in data.get("sections", []):
        for line in s["lines"]:
            try:
                names = [
                    n for _, n, _, _ in string.Formatter().parse(line["text"]) if n is not None
                ]
            except ValueError as err:
                names = [f"an unmatched brace ({err})"]
            unknown = [n for n in names if n not in PLACEHOLDERS]
            if unknown:
                known = ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
                raise PackError.of(
                    Code.PACK_META_PLACEHOLDER,
                    path=source,
                    label=line["label"],
                    name=unknown[0],
                    known=known,
                )
        out.append(Section(s["heading"], tuple((x["label"], x["text"]) for x in s["lines"])))
    return tuple(out)


def _report(data: dict[str, Any], forms: dict[str, Form], source: Path) -> ReportSpec:
    """[report], with every form and field it names checked against the pack."""

    def form_of(part: str, spec: dict[str, Any]) -> Form:
        form = forms.get(spec["form"])
        if form is None:
            raise PackError.of(Code.PACK_META_NO_FORM, path=source, part=part, form=spec["form"])
        return form

    def need(part: str, form: Form, path: str, key: str) -> None:
        """`key` is the pack.toml key that names the field, so the message quotes it."""
        parts = [f.parts for f in form.fields]
        known = {".".join(p[:n]) for p in parts for n in range(1, len(p) + 1)}
        if path not in known:
            raise PackError.of(
                Code.PACK_META_NOT_A_FIELD,
                path=source,
                part=part,
                key=key,
                field=path,
                form=form.id,
            )

    def rows_of(form: Form, group: str) -> list[str]:
        # In the form's order, so the first row named in a message is always the same.
        prefix = len(group.split("."))
        return list(
            dict.fromkeys(f.parts[prefix] for f in form.fields if f.path.startswith(group + "."))
        )

    ratings = None
    if "ratings" in data:
        r = data["ratings"]
        form = form_of("ratings", r)
        need("ratings", form, r["group"], "group")
        rows = rows_of(form, r["group"])
        for key in rows:
            need("ratings", form, f"{r['group']}.{key}.{r['field']}", "field")
        _check_scale(r, form, rows, source)
        for key in r.get("action_plan", {}).values():
            for row in rows:
                need("ratings", form, f"{r['group']}.{row}.{key}", "action_plan")
        if r.get("provider"):
            need("ratings", form, r["provider"], "provider")
        ratings = Ratings(
            form=form.id,
            group=r["group"],
            rating=r["field"],
            framework=r.get("framework") or form.short_name,
            labels=dict(r.get("labels", {})),
            met=tuple(r.get("met", ())),
            partly_met=tuple(r.get("partly_met", ())),
            not_met=tuple(r.get("not_met", ())),
            action_plan=dict(r.get("action_plan", {})),
            provider=r.get("provider", ""),
        )
    self_ratings = None
    if "self_ratings" in data:
        s = data["self_ratings"]
        form = form_of("self_ratings", s)
        for group in s["groups"]:
            need("self_ratings", form, group, "groups")
            # Every row of the group must hold the field, as the Dashboard reads each one.
            for row in rows_of(form, group):
                need("self_ratings", form, f"{group}.{row}.{s['field']}", "field")
        self_ratings = SelfRatings(form.id, tuple(s["groups"]), s["field"])
    logs = []
    for spec in data.get("logs", []):
        form = form_of("logs", spec)
        table = next((t for t in form.tables if t.path == spec["table"]), None)
        if table is None:
            raise PackError.of(
                Code.PACK_META_NOT_A_TABLE,
                path=source,
                part="logs",
                table=spec["table"],
                form=form.id,
            )
        for key in spec.get("printed", []):
            need("logs", form, f"{table.path}.{key}", "printed")
        sheet = spec.get("sheet") or table.title or table.path
        logs.append(Log(form.id, table.path, sheet, tuple(spec.get("printed", ()))))
    signing = None
    if "sign_up" in data:
        g = data["sign_up"]
        form = form_of("sign_up", g)
        for key in g["columns"].values():
            need("sign_up", form, f"{g['table']}.{key}", "columns")
        signing = Signing(form.id, g["table"], g.get("title", ""), dict(g["columns"]))
    for form_id in data.get("sheets", {}):
        form_of("sheets", {"form": form_id})
    return ReportSpec(dict(data.get("sheets", {})), ratings, self_ratings, tuple(logs), signing)


def _check_scale(r: dict[str, Any], form: Form, rows: list[str], source: Path) -> None:
    """[report.ratings]: each scale word is one every row's rating can take (else the
    Matrix and Dashboard would count nothing as met), and each label names a row."""
    by_path = {f.path: f for f in form.fields}
    for key in ("met", "partly_met", "not_met"):
        for word in r.get(key, ()):
            for row in rows:
                field = by_path[f"{r['group']}.{row}.{r['field']}"]
                if word not in field.choices:
                    raise PackError.of(
                        Code.PACK_META_RATING_WORD,
                        path=source,
                        key=key,
                        word=word,
                        field=field.path,
                        choices=", ".join(f"'{c}'" for c in field.choices) or "no fixed list",
                    )
    for row in r.get("labels", {}):
        if row not in rows:
            raise PackError.of(
                Code.PACK_META_LABEL_ROW,
                path=source,
                row=row,
                group=r["group"],
                rows=", ".join(rows),
            )


def _check_shape(path: Path, data: dict[str, Any], what: str) -> None:
    """A layout (or pack.toml) has the shape of layout.schema.json, before anything is
    built from it: a missing `schema` or `field = 5` is named, never a traceback."""
    shapes = builtin_schema("layout")
    schema = shapes if what == "layout" else {"$defs": shapes["$defs"], "$ref": f"#/$defs/{what}"}
    error = next(iter(sorted(explainer(schema).iter_errors(data), key=_error_order)), None)
    if error is not None:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.path)
        where = where.lstrip(".") or "the file"
        if what != "layout":
            raise PackError.of(Code.PACK_META_SHAPE, path=path, where=where, detail=error.message)
        problem = f"{where}: {error.message}"
        raise PackError.of(Code.PACK_LAYOUT, path=path, problem=problem)


def _error_order(error: jsonschema.ValidationError) -> tuple[str, ...]:
    return tuple(map(str, error.path))


def _built(layout: dict[str, Any], schema: dict[str, Any], source: Path, schema_path: Path) -> Form:
    """build_form, with any schema shape it cannot read (a `properties` that is a list, a
    title that is a number) reported against the files, never as a traceback."""
    try:
        return build_form(layout, schema, source=source)
    except PackError:
        raise
    except (KeyError, TypeError, AttributeError, ValueError, IndexError) as err:
        try:  # a schema that is not a JSON Schema at all: say so, in jsonschema's words
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as bad:
            problem = f"it is not a valid JSON Schema 2020-12 ({bad.message})"
            raise PackError.of(Code.PACK_SCHEMA, path=schema_path, problem=problem) from err
        problem = (
            f"the layout and schema {schema_path.name} cannot be laid out together "
            f"({type(err).__name__}: {err})"
        )
        raise PackError.of(Code.PACK_LAYOUT, path=source, problem=problem) from err


_LOADED: dict[str, Pack] = {}


def shared_pack(directory: str, pack: Pack | None = None) -> Pack:
    """One loaded pack per folder per process: worker processes reuse (or inherit) it."""
    if pack is not None:
        _LOADED[directory] = pack
    if directory not in _LOADED:
        _LOADED[directory] = load_pack(directory or None)
    return _LOADED[directory]


def _load_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as err:
        if path.name == "pack.toml":  # the pack's own settings, not a form's layout
            raise PackError.of(Code.PACK_META_TOML, path=path, detail=err) from err
        problem = f"it cannot be read as TOML ({err})"
        raise PackError.of(Code.PACK_LAYOUT, path=path, problem=problem) from err


def _load_json(path: Path) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return loaded
    except (OSError, ValueError) as err:
        problem = f"it cannot be read as JSON ({err})"
        raise PackError.of(Code.PACK_SCHEMA, path=path, problem=problem) from err


# --- deriving fields from the schema -------------------------------------------------


class _Schema:
    """Navigates a form schema: resolves local $refs and reads fields from objects."""

    def __init__(self, schema: dict[str, Any], source: Path) -> None:
        self.root = schema
        self.source = source

    def deref(self, node: dict[str, Any]) -> dict[str, Any]:
        """Merge a local "$ref" with its sibling keywords (title/description override)."""
        ref = node.get("$ref")
        if not ref:
            return node
        if not ref.startswith("#/$defs/"):
            raise PackError.of(Code.PACK_REF_NOT_LOCAL, path=self.source, ref=ref)
        target = self.root.get("$defs", {}).get(ref.removeprefix("#/$defs/"))
        if target is None:
            raise PackError.of(Code.PACK_REF_MISSING, path=self.source, ref=ref)
        merged = {**self.deref(target), **{k: v for k, v in node.items() if k != "$ref"}}
        merged.setdefault("x-list-name", ref.removeprefix("#/$defs/"))
        return merged

    def at(self, path: str) -> dict[str, Any]:
        node = self.root
        for part in path.split("."):
            node = self.deref(node).get("properties", {}).get(part)
            if node is None:
                raise PackError.of(Code.PACK_UNKNOWN_FIELD, path=self.source, field=path)
        return self.deref(node)

    def fields_of(self, path: str, keys: list[str] | None = None) -> list[Field]:
        """The leaf fields of the object at `path`, in schema order, with their rules."""
        obj = self.at(path)
        props = obj.get("properties", {})
        required = set(obj.get("required", []))
        conditions = _conditions(obj, self.source)
        chosen = keys if keys is not None else list(props)
        carry = obj.get("x-carry", True) is not False  # a whole section that belongs to a year
        unknown = [k for k in chosen if k not in props]
        if unknown:
            field = f"{path}.{unknown[0]}"
            raise PackError.of(Code.PACK_UNKNOWN_FIELD, path=self.source, field=field)
        fields = [
            self.field(f"{path}.{k}", props[k], k in required, conditions.get(k)) for k in chosen
        ]
        return fields if carry else [dataclasses.replace(f, carry=False) for f in fields]

    def field(
        self,
        path: str,
        node: dict[str, Any],
        required: bool,
        when: tuple[str, tuple[str, ...]] | None,
    ) -> Field:
        node = self.deref(node)
        choices = tuple(node.get("enum", ()))
        kind = _kind(node, self.source, path)
        parent = path.rsplit(".", 1)[0]
        list_name = node.get("x-list-name") or path
        return Field(
            path=path,
            title=node.get("title", path),
            description=node.get("description", ""),
            kind=kind,
            choices=choices,
            choices_name=f"list.{list_name}" if choices else "",
            minimum=node.get("minimum"),
            maximum=node.get("maximum"),
            max_length=node.get("maxLength"),
            required=required,
            required_when=(f"{parent}.{when[0]}", when[1]) if when else None,
            carry=node.get("x-carry", True) is not False,
        )


def _kind(node: dict[str, Any], source: Path, path: str) -> str:
    if "enum" in node:
        return "choice"
    kind = {"integer": "integer", "number": "number"}.get(node.get("type", ""))
    if kind:
        return kind
    if node.get("type") == "string":
        return {"date": "date", "email": "email"}.get(node.get("format", ""), "text")
    raise PackError.of(Code.PACK_FIELD_TYPE, path=source, field=path)


def _conditions(obj: dict[str, Any], source: Path) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Read `if {sibling in values} then {required: [...]}` rules: the shape banners support."""
    out: dict[str, tuple[str, tuple[str, ...]]] = {}
    for rule in obj.get("allOf", []):
        cond = rule.get("if", {}).get("properties", {})
        then = rule.get("then", {}).get("required", [])
        if len(cond) != 1 or not then or set(rule) - {"if", "then"}:
            raise PackError.of(Code.PACK_CONDITION, path=source, rule=json.dumps(rule)[:120])
        ((sibling, test),) = cond.items()
        values = (test["const"],) if "const" in test else tuple(test.get("enum", ()))
        for key in then:
            out[key] = (sibling, values)
    return out


# --- laying out the sheets ---------------------------------------------------------


def build_form(layout: dict[str, Any], schema: dict[str, Any], source: Path) -> Form:
    """Place every field of the layout on its sheet, top to bottom."""
    nav = _Schema(schema, source)
    form = Form(
        id=layout["form"],
        version=str(schema.get("x-form-version", "")),
        title=schema.get("title", layout["form"]),
        short_name=layout.get("short_name", layout["form"]),
        intro=" ".join(layout.get("intro", "").split()),
        schema=schema,
        layout=layout,
        why=" ".join(str(layout.get("why", "")).split()),
        framework_note=" ".join(str(layout.get("framework_note", "")).split()),
        renamed={str(k): str(v) for k, v in layout.get("renamed", {}).items()},
        removed=tuple(str(p) for p in layout.get("removed", [])),
    )
    framework = set(layout.get("framework", []))
    for sheet in layout.get("sheets", []):
        blocks: list[Block] = []
        row = HEADER_ROWS + 1
        for spec in sheet.get("blocks", []):
            block = _place(nav, sheet["name"], spec, row)
            if spec["field"] in framework:
                block.framework = nav.at(spec["field"]).get("x-framework", "")
            blocks.append(block)
            row = _block_end(block) + 2
        last_col = max((b.status_col for b in blocks), default=3)
        form.sheets.append(SheetPlan(sheet["name"], blocks, row, last_col))
    form.rules = [_rule(form, spec, source) for spec in layout.get("rules", [])]
    _check_carry_from(form, source)
    return form


def _check_carry_from(form: Form, source: Path) -> None:
    """A table filled from last year's table: that table, and the columns it takes, exist
    (a misspelt name would otherwise carry nothing, silently)."""
    tables = {t.path: t for t in form.tables}
    for t in form.tables:
        if not t.carry_from:
            continue
        origin = tables.get(t.carry_from)
        shared = origin and {c.key for c in origin.columns} & {c.key for c in t.columns}
        if not shared:
            raise PackError.of(Code.PACK_CARRY_FROM, path=source, table=t.path, origin=t.carry_from)


def _rule(form: Form, spec: dict[str, Any], source: Path) -> Rule:
    """One [[rules]] entry, checked: a known code, fields that exist and can be compared."""
    code = spec.get("code") if isinstance(spec, dict) else None
    check = CHECKS.get(code) if isinstance(code, str) else None
    if check is None or code not in CATALOGUE:
        known = ", ".join(sorted(CHECKS))
        raise PackError.of(Code.PACK_RULE_CODE, path=source, spec=repr(spec), known=known)
    by_path = {f.path: f for f in form.fields}
    tables = {c.path: t.path for t in form.tables for c in t.columns}
    names = [spec.get("field"), spec.get("other")] if check.compares else [spec.get("field")]
    found = [by_path.get(n) if isinstance(n, str) else None for n in names]
    if None in found or any(f.kind not in check.kinds for f in found if f):
        fields, kinds = " and ".join(map(str, names)), " or ".join(sorted(check.kinds))
        raise PackError.of(
            Code.PACK_RULE_FIELDS, path=source, rule=code, fields=fields, kinds=kinds
        )
    first, other = found[0], (found[1] if check.compares else None)
    assert first is not None
    table = tables.get(first.path, "")
    if other is not None and other.path in tables and tables[other.path] != table:
        raise PackError.of(
            Code.PACK_RULE_TABLE, path=source, rule=code, other=other.path, field=first.path
        )
    return Rule(Code(code), first, other, table)


def _block_end(block: Block) -> int:
    if block.table:
        return block.table.last_row
    return max((i.row for i in block.inputs), default=block.header_row)


def _place(nav: _Schema, sheet: str, spec: dict[str, Any], row: int) -> Block:
    kind = spec.get("type")
    placer = {"questions": _place_questions, "grid": _place_grid, "table": _place_table}.get(
        kind or ""
    )
    if placer is None:
        raise PackError.of(Code.PACK_BLOCK_TYPE, path=nav.source, kind=repr(kind), sheet=sheet)
    return placer(nav, sheet, spec, row)


def _place_questions(nav: _Schema, sheet: str, spec: dict[str, Any], row: int) -> Block:
    obj = nav.at(spec["field"])
    fields = nav.fields_of(spec["field"], spec.get("fields"))
    title = spec.get("title") or (obj.get("title", "") if "fields" not in spec else "")
    block = Block("questions", title, "", row, row + 1, status_col=3)
    block.column_titles = ["Question", "✎ Your answer", "Still to do"]
    for n, f in enumerate(fields):
        block.inputs.append(Input(f, sheet, row + 2 + n, 2, f.title, 1))
    return block


def _place_grid(nav: _Schema, sheet: str, spec: dict[str, Any], row: int) -> Block:
    obj = nav.at(spec["field"])
    keys = spec.get("rows") or list(obj.get("properties", {}))
    block = Block("grid", obj.get("title", ""), obj.get("description", ""), row, row + 1)
    first = nav.fields_of(f"{spec['field']}.{keys[0]}")
    block.column_titles = [spec.get("row_header", "")] + [f.title for f in first] + ["Still to do"]
    block.status_col = len(first) + 2
    for n, key in enumerate(keys):
        label = nav.at(f"{spec['field']}.{key}").get("title", key)
        r = row + 2 + n
        block.row_labels.append((r, label))
        for c, f in enumerate(nav.fields_of(f"{spec['field']}.{key}")):
            block.inputs.append(Input(f, sheet, r, 2 + c, label, 1))
    return block


def _place_table(nav: _Schema, sheet: str, spec: dict[str, Any], row: int) -> Block:
    arr = nav.at(spec["field"])
    items = nav.deref(arr["items"])
    required = set(items.get("required", []))
    conditions = _conditions(items, nav.source)
    columns = tuple(
        nav.field(f"{spec['field']}.{k}", v, k in required, conditions.get(k))
        for k, v in items.get("properties", {}).items()
    )
    # As many rows as the schema allows: a team never runs out of rows it may fill.
    rows = int(spec.get("rows", arr.get("maxItems", 20)))
    header = row + 1
    table = Table(
        path=spec["field"],
        title=arr.get("title", ""),
        description=arr.get("description", ""),
        sheet=sheet,
        header_row=header,
        first_row=header + 1,
        last_row=header + rows,
        first_col=2,
        columns=columns,
        min_items=int(arr.get("minItems", 0)),
        carry=arr.get("x-carry", True) is not False,
        carry_from=str(arr.get("x-carry-from", "")),
    )
    block = Block("table", table.title, table.description, row, header, table=table)
    block.column_titles = ["Row"] + [c.title for c in columns] + ["Still to do"]
    block.status_col = table.status_col
    return block


# --- answers given on an earlier version of a form ---------------------------------------


def upgraded(document: dict[str, Any], form: Form) -> dict[str, Any]:
    """An answers document of an earlier version of `form` as this version names its
    fields: each renamed path moved to its new path (through table rows), everything else,
    a removed field's answer included, left where it was (nothing typed is dropped)."""
    if not form.renamed or document.get("form_version") == form.version:
        return document
    out = copy.deepcopy(document)
    for old, new in form.renamed.items():
        _move(out, old.split("."), new.split("."))
    return out


def _move(node: Any, old: list[str], new: list[str]) -> None:
    """Move the value at `old` to `new` (both relative to `node`); lists apply to each row."""
    if isinstance(node, list):
        for item in node:
            _move(item, old, new)
        return
    if not isinstance(node, dict):
        return
    if len(old) > 1 and len(new) > 1 and old[0] == new[0]:  # same parent: go down together
        _move(node.get(old[0]), old[1:], new[1:])
        return
    parent: Any = node
    for part in old[:-1]:
        parent = parent.get(part) if isinstance(parent, dict) else None
    if not isinstance(parent, dict) or old[-1] not in parent:
        return
    target: Any = node
    for part in new[:-1]:
        target = target.setdefault(part, {}) if isinstance(target, dict) else None
    if isinstance(target, dict) and new[-1] not in target:  # never overwrite an answer
        target[new[-1]] = parent.pop(old[-1])
