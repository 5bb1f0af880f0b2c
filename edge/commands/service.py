"""``edgekit service --print``: a systemd unit that runs edge-run on a device as a service.

The unit restarts edge-run when it fails (a microphone unplugged ends it with status 2: it comes back when the device
does), stops it with SIGTERM (edge-run ends the stream with its summary and exit status 0, so a stop is not a failure),
sends its line-by-line output to the journal, and runs it as an unprivileged user in the ``audio`` group with a
read-only system. ``--record DIR`` becomes a writable path; ``--publish`` waits for the network.

Every value that reaches the unit is one the unit can carry: a control character (C0, DEL, C1) or a Unicode line
separator is refused (a newline would start a line of its own, e.g. a root ``ExecStartPre=+``), each value is quoted
by the rules of the line it goes on (systemd.syntax(7), systemd.service(5)), and every file or folder edge-run is
given is made absolute here, since the service runs from ``/``.
"""
from __future__ import annotations

import os
import re
import shutil
import sys
import unicodedata
from pathlib import Path

from edgekit.edge.core.errors import EdgekitError

ENV_FILE = "/etc/edgekit/edge-run.env"      # EDGEKIT_MQTT_PASSWORD for --publish with --mqtt-user

# The --source kinds that name a file or folder (made absolute) and those that name nothing; every kind a task reads
# is one or the other (tests/test_service_unit.py checks it against the tasks).
PATH_SOURCES = ("wav", "pkl", "images", "csv")
PLAIN_SOURCES = ("synthetic", "stdin", "mic")

PRIVATE_TMP = ("/tmp", "/var/tmp")          # what PrivateTmp=yes replaces with the service's own, emptied at stop
EXEC_QUOTE = " \t\"'\\;"                    # an ExecStart word holding one of these is quoted (or an empty word)
EXE_REFUSED = "\"'\\%$"                     # not in the executable's path: systemd refuses \ " '; % $ differ by version


def _refuse_unsafe(what: str, value: str, source: str = "the value") -> None:
    """Refuse ``value`` if a systemd unit cannot carry it: a control character (C0, DEL, C1), a line or paragraph
    separator, or a byte that is not UTF-8 (kept by Python as a lone surrogate)."""
    for c in value:
        category = unicodedata.category(c)
        if category in ("Cc", "Zl", "Zp"):
            kind = "a control character" if category == "Cc" else "a line separator"
            raise EdgekitError(f"{what}: {source} holds {kind} (U+{ord(c):04X}); a systemd unit cannot carry it")
        if category == "Cs":
            raise EdgekitError(f"{what}: {source} holds a byte that is not UTF-8 ({ord(c) & 0xFF:#04x}); a systemd "
                               f"unit is UTF-8 text")


def _absolute(path: str) -> str:
    """``path`` as an absolute path, naming what edge-run started in the current folder would open."""
    if ".." in Path(path).parts:
        return str(Path(path).resolve())     # a/../b is b only when a is no symlink: the kernel's reading
    return os.path.abspath(path)             # (symlinks kept: a `current` link can be moved after install)


def _exec_word(arg: str) -> str:
    """One ExecStart argument: % (specifiers) and $ (environment variables) doubled, then in double quotes with \\ and
    \" escaped when it is empty or holds whitespace, a quote, a backslash or ; (a lone ; separates commands)."""
    return _quoted(arg.replace("%", "%%").replace("$", "$$"))


def _quoted(word: str) -> str:
    """``word`` as one word of a systemd value that is split at whitespace and unquoted (backslash escapes)."""
    if word and not any(c in word for c in EXEC_QUOTE):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _path_word(path: str) -> str:
    """One ReadWritePaths= entry: absolute (so no - or + prefix), % doubled ($ is not expanded there), quoted."""
    return _quoted(path.replace("%", "%%"))


def _description(text: str, what: str) -> str:
    """Description=: the text as systemd keeps it (whitespace around it goes), % doubled (specifiers expand)."""
    text = text.strip()
    if text.endswith("\\"):
        raise EdgekitError(f"{what}: the unit's Description would end in a backslash, which joins the unit's next "
                           f"line to it; give a --description that does not")
    return text.replace("%", "%%")


def _executable() -> str:
    """edge-run's absolute path, for the first word of ExecStart (where a leading -, @, :, + or ! is a prefix)."""
    exe = os.path.abspath(shutil.which("edge-run") or str(Path(sys.executable).with_name("edge-run")))
    _refuse_unsafe("the edge-run executable", exe, "its path")
    bad = next((c for c in exe if c in EXE_REFUSED), None)
    if bad is not None:
        raise EdgekitError(f"the edge-run executable {exe} has {bad!r} in its path, which a systemd unit cannot run; "
                           f"install edgekit under a path without quotes, backslashes, % or $")
    return exe


def _edge_run_options() -> tuple[set[str], set[str]]:
    """edge-run's options that take a value, and those among them that name a file or folder (from the command)."""
    import click
    from edgekit.edge.commands.edge_run import edge_run
    valued: set[str] = set()
    paths: set[str] = set()
    for p in edge_run.params:
        if isinstance(p, click.Option) and not (p.is_flag or p.count):
            valued.update(p.opts)
            if isinstance(p.type, click.Path):
                paths.update(p.opts)
    return valued, paths


def _edge_run_value(flag: str, value: str, paths: set[str]) -> str:
    """A checked value of ``flag``, with a file or folder it names made absolute (and checked again)."""
    _refuse_unsafe(flag, value)
    kind, colon, arg = value.partition(":")
    if flag in paths and value:
        new = _absolute(value)
    elif flag == "--source" and colon and kind in PATH_SOURCES and arg:
        new = f"{kind}:{_absolute(arg)}"
    else:
        return value
    _refuse_unsafe(flag, new, "its absolute path (from the current folder)")
    return new


def _edge_run_args(args: list[str]) -> tuple[list[str], dict[str, str], set[str]]:
    """edge-run's arguments as the service runs them (checked, paths absolute, each in the form it was given), the
    value of each option given (the last, as edge-run takes it) and the other words given."""
    valued, paths = _edge_run_options()
    out: list[str] = []
    given: dict[str, str] = {}
    words: set[str] = set()
    i = 0
    while i < len(args):
        a = args[i]
        name, eq, value = a.partition("=") if a.startswith("--") else (a, "", "")
        if a == "--":                                       # the rest are operands: checked, passed as they are
            for j, rest in enumerate(args[i:], i):
                _refuse_unsafe(f"edge-run's argument {j + 1}", rest)
            out += args[i:]
            break
        if name in valued and eq:
            given[name] = _edge_run_value(name, value, paths)
            out.append(f"{name}={given[name]}")
        elif a in valued and i + 1 < len(args):
            given[a] = _edge_run_value(a, args[i + 1], paths)
            out += [a, given[a]]
            i += 1
        else:
            _refuse_unsafe(f"edge-run's argument {i + 1}", a)
            words.add(a)
            out.append(a)
        i += 1
    return out, given, words


def _under(path: str, folders: tuple[str, ...]) -> bool:
    """Whether ``path`` is one of ``folders`` or inside one."""
    return any(path == f or path.startswith(f + "/") for f in folders)


def unit_text(args: list[str], user: str = "edgekit", description: str | None = None) -> str:
    """The systemd unit running edge-run with ``args`` as user ``user``: every value checked, quoted, made absolute."""
    if args and args[0] == "--":
        args = args[1:]
    _refuse_unsafe("--user", user)
    if description is not None:
        _refuse_unsafe("--description", description)
    args, given, words = _edge_run_args(list(args))
    model = given.get("--model")
    if not model:
        raise EdgekitError("edgekit service --print -- --model MODEL ...: give edge-run's arguments after --, "
                           "with --model")
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]*", user):
        raise EdgekitError(f"--user {user!r}: give a plain user name (ASCII letters, digits, - and _, not starting "
                           f"with -)")
    if "--list-devices" in words:
        raise EdgekitError("--list-devices lists devices and exits; it is not a service")
    exe = _executable()
    if description is not None and description.strip():
        desc = _description(description, "--description")
    else:
        desc = _description("edgekit edge-run: " + Path(model).name, "--model")
    record = given.get("--record")
    publish = given.get("--publish")
    lines = [
        "# Written by `edgekit service --print`. Install on the device:",
        f"#   sudo useradd --system --no-create-home --groups audio {user}   (once)",
        "#   sudo cp edge-run.service /etc/systemd/system/ && sudo systemctl daemon-reload",
        "#   sudo systemctl enable --now edge-run      # logs: journalctl -u edge-run -f", "[Unit]",
        f"Description={desc}",
        "After=network-online.target sound.target" if publish else "After=sound.target",
    ]
    if publish:
        lines.append("Wants=network-online.target")
    lines += [
        "StartLimitIntervalSec=0", "", "[Service]", "Type=exec",
        "ExecStart=" + " ".join([_quoted(exe), *(_exec_word(a) for a in args)]), "Restart=on-failure",
        "RestartSec=5", "KillSignal=SIGTERM", "TimeoutStopSec=15", "SuccessExitStatus=0", f"User={user}",
        "SupplementaryGroups=audio", "Environment=PYTHONUNBUFFERED=1", "StandardOutput=journal",
        "StandardError=journal", "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=read-only",
    ]
    if publish and given.get("--mqtt-user") and given.get("--mqtt-password-file") is None:
        lines += [f"# the MQTT password, not in this file: sudo install -D -m 600 -o {user} /dev/null {ENV_FILE}, then",
                  "#   write EDGEKIT_MQTT_PASSWORD=... into it", f"EnvironmentFile=-{ENV_FILE}"]
    if not (record and (_under(record, PRIVATE_TMP) or _under(str(Path(record).resolve()), PRIVATE_TMP))):
        lines.append("PrivateTmp=yes")          # (not when recordings go to /tmp: they would vanish with it)
    if record:
        lines.append(f"ReadWritePaths={_path_word(record)}")
    lines += ["", "[Install]", "WantedBy=multi-user.target", ""]
    return "\n".join(lines)
