"""The command line: a thin shell over the library. Options in, messages out.

Exit status: 0 when the command did its job, 1 when `validate` found an invalid file,
2 for bad usage or configuration (with a message that says what to fix).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from . import __version__
from .check import check_pack
from .errors import ParticipationError
from .generate import generate as generate_workbooks
from .pack import load_pack
from .workspace import init_workspace, load_workspace


class Failure(click.ClickException):
    """A problem the user can fix: printed plainly, exit status 2."""

    exit_code = 2


def friendly(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn library errors into plain messages with exit status 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ParticipationError as err:
            raise Failure(str(err)) from err

    return wrapper


def _workspace(ctx: click.Context) -> Any:
    return load_workspace(ctx.obj.get("workspace"))


def _date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as err:
        raise click.BadParameter(f"'{value}' is not a date like 2027-03-31 (YYYY-MM-DD).") from err


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="participation-xl")
@click.option(
    "-w",
    "--workspace",
    type=click.Path(file_okay=False, path_type=Path),
    help="The workspace folder (default: the current folder or the nearest one above it).",
)
@click.pass_context
def main(ctx: click.Context, workspace: Path | None) -> None:
    """Locked Excel participation audits for children's services.

    Issue workbooks to every team (generate), collect what comes back (collect), and
    give managers the consolidated picture (report).
    """
    ctx.ensure_object(dict)
    ctx.obj["workspace"] = workspace


@main.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--council", required=True, help="The council's name, shown on every workbook.")
@click.option("--cycle", required=True, help="The cycle: two consecutive years, like 2026-27.")
@click.option("--due", required=True, callback=_date, help="The due date, YYYY-MM-DD.")
@click.pass_context
@friendly
def init(
    ctx: click.Context, directory: Path | None, council: str, cycle: str, due: dt.date
) -> None:
    """Make a workspace with a starter roster (teams.xlsx) to fill in."""
    target = directory or ctx.obj.get("workspace") or Path.cwd()
    ws = init_workspace(target, council, cycle, due)
    click.echo(f"Made a workspace for {ws.council}, cycle {ws.cycle}, due {ws.due:%d/%m/%Y}:")
    click.echo(f"  {ws.root}")
    click.echo(f"Next: replace the example teams in {ws.roster_path.name}, then run "
               "'participation-xl generate'.")


@main.command()
@click.option("--roster", type=click.Path(dir_okay=False, path_type=Path),
              help="A roster file (default: the one participation.toml names).")
@click.option("--team", "teams", multiple=True, metavar="ID",
              help="Only this team (repeat for more).")
@click.pass_context
@friendly
def generate(ctx: click.Context, roster: Path | None, teams: tuple[str, ...]) -> None:
    """Write the locked workbooks for every team on the roster into outbox/."""
    ws = _workspace(ctx)
    paths = generate_workbooks(ws, roster, teams)
    folders = {p.parent for p in paths}
    click.echo(f"Wrote {len(paths)} workbook(s) for {len(folders)} team(s) in {ws.outbox}.")
    click.echo("Send each team the workbooks in its folder.")


@main.group()
def pack() -> None:
    """Work with the template pack (schemas and layouts)."""


@pack.command("check")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@friendly
def pack_check(directory: Path | None) -> None:
    """Prove that every layout agrees with its schema (default: the built-in pack)."""
    loaded = load_pack(directory)
    problems = check_pack(loaded)
    for p in problems:
        click.echo(f"  - {p}", err=True)
    if problems:
        raise Failure(f"{loaded.dir}: {len(problems)} problem(s) in the template pack.")
    click.echo(f"{loaded.name} {loaded.version}: {len(loaded.forms)} form(s), layouts and "
               "schemas agree.")
