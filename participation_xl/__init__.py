"""participation-xl: locked Excel participation audits for children's services.

The library comes first; the command line is a thin shell over it. A script opens a
workspace and calls one method per command (see api.py and the README):

    from participation_xl import Workspace

    ws = Workspace.open("participation-demo")
    ws.collect()
    print(ws.status().teams[0].status)
"""

from openpyxl.xml import DEFUSEDXML

from . import api
from .api import *  # noqa: F403  (the API's own __all__: one list of its names)
from .errors import (
    BusyError,
    ConfigError,
    ExportFormatError,
    OutputError,
    PackError,
    ParticipationError,
    RegisterError,
    ReviewError,
    RosterError,
)
from .generate import build_workbook, generate
from .pack import load_pack
from .roster import read_roster
from .workspace import init_workspace, load_workspace

__version__ = "0.1.0"


def require_defusedxml(enabled: bool = DEFUSEDXML) -> None:
    """openpyxl only guards against XML entity attacks when it uses defusedxml: insist."""
    if not enabled:
        raise ImportError(
            "participation-xl needs defusedxml so that openpyxl parses spreadsheets safely. "
            "Install it: pip install defusedxml"
        )


require_defusedxml()  # at start-up, before any spreadsheet is opened

__all__ = [
    "BusyError",
    "ConfigError",
    "ExportFormatError",
    "OutputError",
    "PackError",
    "ParticipationError",
    "RegisterError",
    "ReviewError",
    "RosterError",
    "build_workbook",
    "generate",
    "init_workspace",
    "load_pack",
    "load_workspace",
    "read_roster",
    "require_defusedxml",
]
__all__ += api.__all__
