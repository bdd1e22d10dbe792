"""Identify a return by its content, never by its file name.

The workbook's signed identity says which team, form, version and cycle it is. A return
whose signature fails, or that belongs to another cycle, an unknown form or a team not on
the roster, is rejected with a reason that says what to do.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import PurePath

from . import identity
from .messages import Code
from .pack import META_SHEET, Form, Pack
from .read import RawWorkbook

CLAIM_LIMIT = 100  # a claimed team id or form is only ever matched, never shown at length


@dataclass(frozen=True)
class Rejection:
    """Why a file cannot be taken as a return: a catalogue code and its values, and the
    team and form the file claims to be, when its identity could be read (even unsigned
    or from another cycle), so that every view can say that this team sent something."""

    code: Code
    values: dict[str, str]
    claimed: tuple[str, str] | None = None  # (team_id, form)


@dataclass(frozen=True)
class Identified:
    identity: dict[str, str]
    form: Form
    stale: bool = False  # issued from another layout or schema of this form and version
    # Issued this cycle to a team removed from the roster since: recorded with a query.
    off_roster: bool = False


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
    raw: RawWorkbook,
    pack: Pack,
    secret: bytes | None,
    cycle: str | None,
    team_ids: AbstractSet[str] | None,
    issued_teams: AbstractSet[str] = frozenset(),
    kept: Mapping[tuple[str, str], Form] | None = None,
) -> Identified | Rejection:
    """Check the signed identity against this workspace: secret, cycle, form, roster.

    A team off the roster that was issued a workbook this cycle (`issued_teams`) is still
    identified, flagged `off_roster`. A form version the pack no longer has is read with
    the kept copy of the version it was issued from (`kept`, by form and version).
    Outside a workspace (`validate FILE` with no participation.toml) there is no secret,
    cycle or roster: pass None for each and only the form and its sheets are checked."""
    found = read_identity(raw)
    if found is None:
        return Rejection(Code.IDENTIFY_NO_IDENTITY, {})
    claimed = (found.get("team_id", "")[:CLAIM_LIMIT], found.get("form", "")[:CLAIM_LIMIT])

    def rejected(code: Code, **values: str) -> Rejection:
        return Rejection(code, values, claimed)

    hints = _hints(raw)
    if secret is not None and not identity.verify(found, found.get(identity.SIGNATURE, ""), secret):
        other_key = hints.get(identity.KEY_ID) not in (None, identity.key_id(secret))
        return rejected(Code.IDENTIFY_OTHER_WORKSPACE if other_key else Code.IDENTIFY_BAD_SIGNATURE)
    if any(not found.get(k) for k in ("form", "form_version", "cycle", "team_id")):
        return rejected(Code.IDENTIFY_BAD_SIGNATURE)  # only possible unsigned: a part is gone
    if cycle is not None and found.get("cycle") != cycle:
        return rejected(Code.IDENTIFY_OTHER_CYCLE, found=found.get("cycle", ""), expected=cycle)
    form = pack.forms.get(found.get("form", ""))
    issued = {"form": found.get("form", ""), "version": found.get("form_version", "")}
    if secret is not None and form is not None and form.version != issued["version"]:
        # Signed by us from an earlier version of a form the pack still has: read it with
        # the copy of that version kept when it was issued (none kept: pack_changed below).
        form = (kept or {}).get((issued["form"], issued["version"]), form)
    if form is None and secret is not None:  # signed by us, so issued from our pack
        return rejected(Code.IDENTIFY_PACK_CHANGED, **issued, now=NO_SUCH_FORM)
    if form is None:
        return rejected(Code.IDENTIFY_UNKNOWN_FORM, **issued)
    if form.version != found.get("form_version"):  # the pack moved on: not the team's doing
        return rejected(Code.IDENTIFY_PACK_CHANGED, **issued, now=f"version {form.version}")
    stale = hints.get(identity.FORM_DIGEST) not in (None, form.digest)
    off_roster = team_ids is not None and found.get("team_id") not in team_ids
    if off_roster and found.get("team_id") not in issued_teams:
        return rejected(Code.IDENTIFY_UNKNOWN_TEAM, team=found.get("team_id", ""))
    names = {s.name for s in raw.sheets}
    for plan in form.sheets:
        if plan.name not in names:
            if stale:
                return rejected(Code.IDENTIFY_PACK_CHANGED, **issued, now=SAME_VERSION_CHANGED)
            return rejected(Code.IDENTIFY_SHEET_MISSING, sheet=plan.name)
    return Identified({k: found[k] for k in identity.KEYS if k in found}, form, stale, off_roster)


SAME_VERSION_CHANGED = "a changed layout or schema under the same version"
NO_SUCH_FORM = "no form of that name"


def blame(rejection: Rejection, who: Identified) -> Rejection:
    """A workbook whose answers are not where the form says: the team moved them, unless
    the form was laid out differently when the workbook was issued (the pack changed)."""
    if not who.stale or rejection.code != Code.IDENTIFY_MOVED:
        return rejection
    values = {
        "form": who.identity.get("form", ""),
        "version": who.identity.get("form_version", ""),
        "now": SAME_VERSION_CHANGED,
    }
    return Rejection(Code.IDENTIFY_PACK_CHANGED, values, rejection.claimed)


def _hints(raw: RawWorkbook) -> dict[str, str]:
    props = raw.custom_properties
    return {
        k: str(props[identity.PROPERTY_PREFIX + k])[:CLAIM_LIMIT]
        for k in identity.HINTS
        if identity.PROPERTY_PREFIX + k in props
    }


def folder_team(relative_path: str, team_ids: AbstractSet[str]) -> str | None:
    """The team a file's folder is named after ('EH01 Early Help/…'), if any."""
    for part in PurePath(relative_path).parts[:-1]:
        head = part.split(" ", 1)[0]
        if head in team_ids:
            return head
    return None
