"""Every problem a user can meet has a stable code of the message catalogue.

Configuration, pack, busy and pack-check problems are told apart by their codes, as a
script would, never by their English; and no error in the library is worded outside the
catalogue.
"""

# The tables read across, one case a line, as wide as they need.
# ruff: noqa: E501

from __future__ import annotations

import ast
import datetime as dt
import json
import re
from pathlib import Path

import pytest

from participation_xl import collect as collect_module
from participation_xl import load_pack
from participation_xl import workspace as workspace_module
from participation_xl.check import check_pack, pack_problems
from participation_xl.errors import BusyError, PackError, ParticipationError
from participation_xl.generate import generate
from participation_xl.messages import CATALOGUE, Code, render
from participation_xl.workspace import (
    check_cycle,
    check_due,
    find_root,
    init_workspace,
    load_workspace,
    parse_date,
    returns_folder,
)

PACKAGE = Path(__file__).resolve().parent.parent / "participation_xl"
DUE = dt.date(2027, 3, 31)


def _code(call) -> str:
    """The code of the error `call` raises, checked to be worded by the catalogue."""
    with pytest.raises(ParticipationError) as caught:
        call()
    code = caught.value.code
    assert code in CATALOGUE, code
    _fields_in(str(caught.value), CATALOGUE[code].template)
    return code


def _fields_in(text: str, template: str) -> dict:
    """The values a rendered template was filled with; fails if the text is not it."""
    pattern, seen = re.escape(template), set()
    for name in re.findall(r"\{(\w+)\}", template):
        field = re.escape("{" + name + "}")
        group = f"(?P={name})" if name in seen else f"(?P<{name}>.*?)"
        pattern, _ = re.subn(re.escape(field), lambda _m, g=group: g, pattern, count=1)
        seen.add(name)
    m = re.fullmatch(pattern, text, re.S)
    assert m, f"{text!r} is not worded as the catalogue's {template!r}"
    return m.groupdict()


# --- configuration ------------------------------------------------------------------------


def _set(ws, key: str, value: str) -> None:
    """Set one line of participation.toml, `key = value`, as a coordinator would edit it."""
    config = ws.root / "participation.toml"
    text, n = re.subn(
        rf"^{re.escape(key)} = .*$", lambda _m: f"{key} = {value}", config.read_text("utf-8"),
        count=1, flags=re.M,
    )  # fmt: skip
    assert n == 1, key
    config.write_text(text, encoding="utf-8")


def _load(ws, key: str, value: str):
    _set(ws, key, value)
    return load_workspace(ws.root)


def _unknown_form(ws, tmp):
    """A coordinator's own [forms] in participation.toml naming a form the pack lacks."""
    config = ws.root / "participation.toml"
    forms = '\n[forms]\ncommissioned = ["nine-standards"]\n'
    config.write_text(config.read_text("utf-8") + forms, encoding="utf-8")
    return load_workspace(ws.root).forms_for("commissioned")


def _returns_among_reports(ws, tmp):
    ws.reports_dir.mkdir(exist_ok=True)
    return returns_folder(ws, ws.reports_dir)


# what is wrong                   | how it is made                                   | code
CONFIG = [
    ("no workspace here",           lambda ws, tmp: find_root(tmp),                    "config.not_found"),
    ("not TOML",                    lambda ws, tmp: _load(ws, "cycle", "= 1"),         "config.unreadable"),
    ("a key of the wrong type",     lambda ws, tmp: _load(ws, "cycle", "5"),           "config.invalid"),
    ("an unknown time zone",        lambda ws, tmp: _load(ws, "timezone", '"Mars/X"'), "config.timezone"),
    ("a due date before the cycle", lambda ws, tmp: _load(ws, "due", '"31/03/2025"'),  "config.due"),
    ("a cycle of two far years",    lambda ws, tmp: check_cycle("2026-29"),            "config.cycle"),
    ("a due date out of its cycle", lambda ws, tmp: check_due("2026-27", DUE.replace(year=2026)),
                                                                                       "config.due_before_cycle"),
    ("no council",                  lambda ws, tmp: init_workspace(tmp / "n", " ", "2026-27", DUE),
                                                                                       "config.council_required"),
    ("a long return_to",            lambda ws, tmp: init_workspace(tmp / "n", "C", "2026-27", DUE,
                                                                   return_to="x" * 999),
                                                                                       "config.return_to_too_long"),
    ("no returns folder",           lambda ws, tmp: returns_folder(ws, tmp / "nowhere"),
                                                                                       "config.returns_missing"),
    ("returns in the workspace",    lambda ws, tmp: returns_folder(ws, ws.root),       "config.returns_overlap"),
    ("returns among the reports",   _returns_among_reports,                            "config.returns_overlap"),
    ("a form the pack lacks",       _unknown_form,                                     "config.forms_unknown"),
    ("a team not on the roster",    lambda ws, tmp: generate(ws, team_ids=["NOPE"]),   "config.unknown_team"),
    ("a workspace already there",   lambda ws, tmp: init_workspace(ws.root, "C", "2026-27", DUE),
                                                                                       "workspace.exists"),
]  # fmt: skip


@pytest.mark.parametrize("why,make,code", CONFIG, ids=[c[0] for c in CONFIG])
def test_a_configuration_problem_has_its_code(workspace, tmp_path, why, make, code):
    assert _code(lambda: make(workspace, tmp_path)) == code


# text           | code of the words
DATES = [
    ("soon",         "date.not_a_date"),
    ("2027-13-01",   "date.no_such_part"),
    ("29/02/2027",   "date.no_such_day"),
]  # fmt: skip


@pytest.mark.parametrize("text,code", DATES)
def test_a_date_that_is_not_one_is_told_in_the_catalogues_words(text, code):
    with pytest.raises(ValueError) as caught:
        parse_date(text)
    _fields_in(str(caught.value), CATALOGUE[code].template)


def test_a_second_run_is_busy_with_its_code(workspace):
    run_lock = getattr(collect_module, "run_lock", None) or workspace_module.run_lock
    with run_lock(workspace), pytest.raises(BusyError) as caught, run_lock(workspace, wait=0.2):
        pass
    assert caught.value.code == "busy.running"


# --- the template pack ----------------------------------------------------------------------


def _layout(pack: Path, old: str, new: str) -> None:
    path = pack / "workbook_templates" / "audit.toml"
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _schema(pack: Path, change) -> None:
    path = pack / "schemas" / "audit.schema.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")


def _about(data: dict) -> dict:
    return data["properties"]["about"]


def _role(change):
    return lambda p: _schema(p, lambda d: change(_about(d)["properties"]["role"]))


def _rule(code: str, field: str):
    return lambda p: _layout(
        p, "[[rules]]", f'[[rules]]\ncode = "{code}"\nfield = "{field}"\n[[rules]]'
    )


def _pack_toml(change):
    def make(p: Path) -> None:
        path = p / "workbook_templates" / "pack.toml"
        path.write_text(change(path.read_text(encoding="utf-8")), encoding="utf-8")

    return make


# what is wrong                  | how it is made                                              | code
PACK = [
    ("not a pack folder",          lambda p: (p / "schemas").rename(p / "elsewhere"),            "pack.not_a_pack"),
    ("a layout not TOML",          lambda p: _layout(p, "[[sheets]]", "[[sheets]"),              "pack.layout"),
    ("a schema not JSON",          lambda p: (p / "schemas/audit.schema.json").write_text("{"),  "pack.schema"),
    ("a field not in the schema",  lambda p: _layout(p, 'field = "about" }', 'field = "x" }'),   "pack.unknown_field"),
    ("a key not in the schema",    lambda p: _layout(p, '["cost_of_living"]', '["x"]'),          "pack.unknown_field"),
    ("a rule with no known code",  _rule("no.such", "about.role"),                               "pack.rule_code"),
    ("a rule on the wrong kind",   _rule("rule.more_than", "about.role"),                    "pack.rule_fields"),
    ("a $ref to another file",     _role(lambda f: f.update({"$ref": "other.json#/x"})),         "pack.ref_not_local"),
    ("a $ref to nothing",          _role(lambda f: f.update({"$ref": "#/$defs/nothing"})),       "pack.ref_missing"),
    ("a field of no askable type", _role(lambda f: f.update({"type": "boolean"})),               "pack.field_type"),
    ("an unsupported condition",   lambda p: _schema(p, lambda d: _about(d).setdefault("allOf", [])
                                                     .append({"if": {}, "then": {}})),           "pack.condition"),
]  # fmt: skip


@pytest.mark.parametrize("why,make,code", PACK, ids=[c[0] for c in PACK])
def test_a_broken_pack_has_its_code(pack_copy, why, make, code):
    make(pack_copy)
    with pytest.raises(PackError) as caught:
        load_pack(pack_copy)
    assert caught.value.code == code
    assert str(pack_copy) in str(caught.value)


def _no_input(p: Path) -> None:
    _schema(p, lambda d: d["properties"]["inclusion"]["properties"].update(x={"type": "string"}))


# what disagrees                  | how it is made                                             | code
CHECKS = [
    ("a table of the wrong length", lambda p: _layout(p, 'field = "you_said_we_did" }',
                                                      'field = "you_said_we_did", rows = 40 }'),  "check.table_rows"),
    ("a sheet name Excel refuses",  lambda p: _layout(p, '"About the team"', '"About: the team"'), "check.sheet_name"),
    ("an apostrophe at the end",    lambda p: _layout(p, '"About the team"', '"The team\'"'),     "check.sheet_name"),
    ("a sheet name used twice",     lambda p: _layout(p, '"Taking part"', '"About the team"'),     "check.sheet_twice"),
    ("a schema field with no cell", _no_input,                                                     "check.no_input"),
    ("an unknown form for a kind",  _pack_toml(lambda t: t.replace('["audit"]', '["audit", "x"]', 1)),
                                                                                                   "check.unknown_form"),
    ("an error code explained",     _pack_toml(lambda t: t + '"answer.required" = "x"\n'),        "check.explanation_code"),
]  # fmt: skip


@pytest.mark.parametrize("why,make,code", CHECKS, ids=[c[0] for c in CHECKS])
def test_a_pack_check_problem_is_a_code_and_values_worded_at_the_edge(pack_copy, why, make, code):
    make(pack_copy)
    pack = load_pack(pack_copy)
    problems = pack_problems(pack)
    assert code in {p.code for p in problems}, problems
    assert check_pack(pack) == [p.text for p in problems]
    for p in problems:
        words = render(p.code, **p.values)
        assert p.text == (f"{p.form}: {words}" if p.form else words)


def test_the_built_in_pack_has_no_problems():
    assert pack_problems(load_pack()) == []


# --- the catalogue holds every code the library raises ---------------------------------------

_ERRORS = {"ParticipationError", "ConfigError", "PackError", "BusyError", "OutputError",
           "RegisterError", "ReviewError", "RosterError"}  # fmt: skip


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


def test_every_code_the_library_gives_an_error_or_problem_is_a_code_member():
    """Every error, problem or message is raised from a `Code` member (never a string that
    could drift from the catalogue); mypy checks each member exists."""
    used, literal = set(), []
    for path in PACKAGE.glob("*.py"):
        for call in _calls(ast.parse(path.read_text(encoding="utf-8"))):
            f = call.func
            named = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            if named in ("of", "_problem", "render") and call.args:
                first = call.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    literal.append(f"{path.name}:{call.lineno}")
                elif isinstance(first, ast.Attribute) and getattr(first.value, "id", "") == "Code":
                    used.add(first.attr)
    assert used, "no codes found: the test is looking in the wrong place"
    assert literal == []
    assert sorted(used - {c.name for c in Code}) == []


def test_no_error_the_user_meets_is_worded_outside_the_catalogue():
    """An error of the library's tree is raised with words from the catalogue (`.of`, or
    `render`), never with an f-string or a literal of its own."""
    offenders = []
    for path in sorted(PACKAGE.glob("*.py")):
        for call in _calls(ast.parse(path.read_text(encoding="utf-8"))):
            f = call.func
            if isinstance(f, ast.Name) and f.id in _ERRORS and path.name != "errors.py":
                words = (
                    call.args[1]
                    if f.id == "ReviewError" and len(call.args) > 1
                    else (call.args[0] if call.args else None)
                )
                if isinstance(words, ast.JoinedStr | ast.Constant):
                    offenders.append(f"{path.name}:{call.lineno}")
    assert offenders == []


def _worded(node: ast.expr | None) -> bool:
    """A literal (or f-string) holding words of its own, not only punctuation around values:
    'Warning: {w}' and '  - {p}' are layout, a sentence is a message."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        parts = [node.value]
    elif isinstance(node, ast.JoinedStr):
        parts = [v.value for v in node.values if isinstance(v, ast.Constant)]
    else:
        return False
    return len(re.findall(r"[A-Za-z]{2,}", " ".join(str(p) for p in parts))) >= 3


def _echoed_to_stderr(call: ast.Call) -> bool:
    f = call.func
    return (
        isinstance(f, ast.Attribute)
        and f.attr == "echo"
        and any(k.arg == "err" for k in call.keywords)
    )


def test_no_failure_warning_or_value_error_is_worded_outside_the_catalogue():
    """The CLI's failures and its notes on standard error, and the ValueErrors whose words
    reach a user (the API's, the review workbook's), come from the catalogue too."""
    offenders = []
    for name in ("cli.py", "api.py", "review_book.py"):
        for call in _calls(ast.parse((PACKAGE / name).read_text(encoding="utf-8"))):
            f, words = call.func, (call.args[0] if call.args else None)
            called = f.id if isinstance(f, ast.Name) else ""
            if (
                called in ("Failure", "ValueError")
                and isinstance(words, ast.JoinedStr | ast.Constant)
            ) or (name == "cli.py" and _echoed_to_stderr(call) and _worded(words)):
                offenders.append(f"{name}:{call.lineno}")
    assert offenders == []
