"""Shared command-line plumbing: one-line errors, no tracebacks, exit codes."""
from __future__ import annotations

import os
import sys

import click

from edgekit.edge.core.errors import EdgekitError, MissingExtraError
from edgekit.edge.pipeline.signals import Aborted

# Third-party modules the workstation commands import, and the extra that provides them.
EXTRA_OF = {"tensorflow": "train", "keras": "train", "tf2onnx": "train", "onnx": "train", "scipy": "train",
            "pandas": "train", "matplotlib": "train", "sympy": "train", "sounddevice": "mic", "PIL": "images"}


def missing_extra(e: ImportError, what: str) -> MissingExtraError | None:
    """The MissingExtraError for an ImportError of a known optional dependency, else None."""
    top = (e.name or "").split(".")[0]
    return MissingExtraError(what, top, EXTRA_OF[top]) if top in EXTRA_OF else None


def _invoked(command: click.Command, args, prog_name: str | None) -> str:
    """'edgekit train' for `edgekit train stft ...`: the program and the subcommand the user typed."""
    name = prog_name or command.name or ""
    argv = sys.argv[1:] if args is None else list(args)
    first = next((a for a in argv if not a.startswith("-")), None)
    if isinstance(command, click.Group) and first is not None and first in command.list_commands(None):
        return f"{name} {first}"
    return name


def _fail(message: str, code: int = 2) -> None:
    """``error: message`` on stderr (if there is one), then exit with ``code``."""
    if sys.stderr is not None:
        try:
            click.echo(f"error: {message}", err=True)
        except OSError:
            pass
    sys.exit(code)


def _output_failed(e: OSError) -> None:
    """A write to standard output failed (a full disk, /dev/full, an I/O error): one line, status 2, and stdout
    pointed at /dev/null so that Python's flush at exit does not fail again with a traceback."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
    except (OSError, AttributeError, ValueError):
        pass
    if e.filename:
        _fail(f"{e.filename}: {e.strerror or e}")
    _fail(f"cannot write the output ({e.strerror or e}); free space or send it elsewhere")


def run_cli(command: click.Command, args=None, prog_name: str | None = None) -> None:
    """Run a click command; bad input becomes ``error: <one line>`` on stderr and exit status 2."""
    if sys.stdout is None:                 # started with stdout closed (>&-)
        _fail("standard output is closed; send it to a file or to /dev/null")
    try:
        rv = command.main(args=args, prog_name=prog_name, standalone_mode=False)
        sys.stdout.flush()                 # (a full disk shows here, not in Python's flush at exit)
    except EdgekitError as e:
        click.echo(f"error: {e.message}", err=True)
        sys.exit(e.exit_code)
    except ImportError as e:
        extra = missing_extra(e, f"'{_invoked(command, args, prog_name)}'")
        if extra is None:
            raise
        click.echo(f"error: {extra.message}", err=True)
        sys.exit(extra.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:     # a bad flag: one line, as every other error
        hint = f" (see {prog_name or command.name} --help)" if isinstance(e, click.UsageError) else ""
        click.echo(f"error: {' '.join(e.format_message().split())}{hint}", err=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Aborted:                        # a second stop signal
        click.echo("aborted", err=True)
        sys.exit(130)
    except BrokenPipeError:  # `edge-run ... | head`
        sys.stderr.close()
        sys.exit(0)
    except OSError as e:                   # writing the output failed
        _output_failed(e)
    sys.exit(rv if isinstance(rv, int) else 0)
