"""participation-xl: locked Excel participation audits for children's services.

The library comes first; the command line is a thin shell over these functions.
"""

from openpyxl.xml import DEFUSEDXML

from .errors import ConfigError, PackError, ParticipationError, RosterError
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
    "ConfigError",
    "PackError",
    "ParticipationError",
    "RosterError",
    "build_workbook",
    "generate",
    "init_workspace",
    "load_pack",
    "load_workspace",
    "read_roster",
    "require_defusedxml",
]
