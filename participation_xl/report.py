"""Reports for managers: written only from register values (see issue [3/5])."""

from __future__ import annotations

from .workspace import Workspace


def write_reports(ws: Workspace) -> list:
    """Placeholder hook: the consolidated workbooks arrive with the report stage."""
    return []
