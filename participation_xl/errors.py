"""The small tree of errors the library raises; the CLI turns each into exit status 2."""

from __future__ import annotations


class ParticipationError(Exception):
    """Base class: a problem the user can fix, with a message that says how."""


class ConfigError(ParticipationError):
    """participation.toml or the workspace is missing or wrong."""


class PackError(ParticipationError):
    """The template pack (schemas or layouts) is inconsistent."""


class RosterError(ParticipationError):
    """The roster has problems; every one is listed, each naming its row and column."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"{path}: the roster has {len(problems)} problem(s); nothing was generated.\n{lines}"
        )


class BusyError(ParticipationError):
    """Another collect or report is running on this workspace."""


class ReviewError(ParticipationError):
    """A review decision cannot be recorded (unknown team or form, nothing to review)."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)
