"""The small tree of errors the library raises; the CLI turns each into exit status 2."""

from __future__ import annotations

from typing import Self

from .messages import Code, render


class ParticipationError(Exception):
    """Base class: a problem the user can fix, with a message that says how.

    `code` is the message's stable code in messages.CATALOGUE, when it has one, so that
    scripts and tests can tell problems apart without reading the English."""

    def __init__(self, message: str = "", code: str = "") -> None:
        super().__init__(message)
        self.code = code

    @classmethod
    def of(cls, code: Code, /, **values: object) -> Self:
        """The error for a catalogue code, its words rendered from the catalogue."""
        return cls(render(code, **values), code)


class ConfigError(ParticipationError):
    """participation.toml or the workspace is missing or wrong."""


class PackError(ParticipationError):
    """The template pack (schemas or layouts) is inconsistent."""


class RosterError(ParticipationError):
    """The roster has problems; every one is listed, each naming its row and column."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(self.describe("the command stopped before doing anything"))
        self.code = Code.ROSTER_PROBLEMS

    def describe(self, not_done: str) -> str:
        """The message, saying what was not done: that depends on the command that read
        the roster (the CLI knows), so `status` never claims that nothing was generated."""
        lines = "\n".join(f"  - {p}" for p in self.problems)
        head = render(
            Code.ROSTER_PROBLEMS, path=self.path, count=len(self.problems), not_done=not_done
        )
        return f"{head}\n{lines}"


class BusyError(ParticipationError):
    """Another collect or report is running on this workspace."""


class OutputError(ParticipationError):
    """A report could not be written (a folder that is a file, no permission, disk full);
    the reports were left as they were, all of them."""


class RegisterError(ParticipationError):
    """The register (.participation/register.sqlite) is damaged or cannot be opened or
    read; the message says how to restore or rebuild it."""


class ExportFormatError(ParticipationError, ValueError):
    """An export format the library does not write (a ValueError too, as it always was)."""


class ReviewError(ParticipationError):
    """A review decision cannot be recorded (unknown team or form, nothing to review)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code)

    @classmethod
    def of(cls, code: Code, /, **values: object) -> Self:
        return cls(code, render(code, **values))
