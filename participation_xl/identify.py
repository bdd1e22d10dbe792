"""Identify a return by its content, never by its file name.

The workbook's signed identity says which team, form, version and cycle it is. A return
whose signature fails, or that belongs to another cycle, an unknown form or a team not on
the roster, is rejected with a reason that says what to do.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import PurePath

from . import identity
from .pack import META_SHEET, Form, Pack
from .read import RawWorkbook


@dataclass(frozen=True)
class Rejection:
    """Why a file cannot be taken as a return: a catalogue code and its values."""

    code: str
    values: dict[str, str]


@dataclass(frozen=True)
class Identified:
    identity: dict[str, str]
    form: Form


def read_identity(raw: RawWorkbook) -> dict[str, str] | None:
    """The identity from the very hidden sheet, else from the custom document properties."""
    cells = raw.cells.get(META_SHEET)
    if cells:
        found = {
            str(cells[(r, 1)].value): _text(cells.get((r, 2)))
            for r in range(1, len(identity.KEYS) + 2)
            if (r, 1) in cells
        }
        if identity.SIGNATURE in found:
            return found
    props = {
        k.removeprefix(identity.PROPERTY_PREFIX): v
        for k, v in raw.custom_properties.items()
        if k.startswith(identity.PROPERTY_PREFIX)
    }
    return props if identity.SIGNATURE in props else None


def _text(cell: object) -> str:
    value = getattr(cell, "value", None)
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a team id like 101 may come back from LibreOffice as a number
    return "" if value is None else str(value)


def identify(
    raw: RawWorkbook, pack: Pack, secret: bytes, cycle: str, team_ids: AbstractSet[str]
) -> Identified | Rejection:
    """Check the signed identity against this workspace: secret, cycle, form, roster."""
    found = read_identity(raw)
    if found is None:
        return Rejection("identify.no_identity", {})
    if not identity.verify(found, found.get(identity.SIGNATURE, ""), secret):
        return Rejection("identify.bad_signature", {})
    if found["cycle"] != cycle:
        return Rejection("identify.other_cycle", {"found": found["cycle"], "expected": cycle})
    form = pack.forms.get(found["form"])
    if form is None or form.version != found["form_version"]:
        return Rejection(
            "identify.unknown_form", {"form": found["form"], "version": found["form_version"]}
        )
    if found["team_id"] not in team_ids:
        return Rejection("identify.unknown_team", {"team": found["team_id"]})
    names = {s.name for s in raw.sheets}
    for plan in form.sheets:
        if plan.name not in names:
            return Rejection("identify.sheet_missing", {"sheet": plan.name})
    return Identified({k: found[k] for k in identity.KEYS if k in found}, form)


def folder_team(relative_path: str, team_ids: AbstractSet[str]) -> str | None:
    """The team a file's folder is named after ('EH01 Early Help/…'), if any."""
    for part in PurePath(relative_path).parts[:-1]:
        head = part.split(" ", 1)[0]
        if head in team_ids:
            return head
    return None
