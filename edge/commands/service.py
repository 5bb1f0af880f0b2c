"""``edgekit service --print``: a systemd unit that runs edge-run on a device as a service.

The unit restarts edge-run when it fails (a microphone unplugged ends it with status 2: it comes back when the device
does), stops it with SIGTERM (edge-run ends the stream with its summary and exit status 0, so a stop is not a failure),
sends its line-by-line output to the journal, and runs it as an unprivileged user in the ``audio`` group with a
read-only system. ``--record DIR`` becomes a writable path; ``--publish`` waits for the network.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

from edgekit.edge.core.errors import EdgekitError


ENV_FILE = "/etc/edgekit/edge-run.env"      # EDGEKIT_MQTT_PASSWORD for --publish with --mqtt-user


def _quote(arg: str) -> str:
    """One ExecStart argument: systemd's quoting (double quotes, backslash escapes; % and $ doubled)."""
    arg = arg.replace("%", "%%").replace("$", "$$")
    if arg and not any(c in arg for c in " \t\"'\\;"):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _value(args: list[str], flag: str) -> str | None:
    for i, a in enumerate(args):
        if a == flag and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return None


def unit_text(args: list[str], user: str = "edgekit", description: str | None = None) -> str:
    if args and args[0] == "--":
        args = args[1:]
    model = _value(args, "--model")
    if not model:
        raise EdgekitError("edgekit service --print -- --model MODEL ...: give edge-run's arguments after --, "
                           "with --model")
    if not user or not all(c.isalnum() or c in "-_" for c in user):
        raise EdgekitError(f"--user {user!r}: give a plain user name (letters, digits, - and _)")
    if "--list-devices" in args:
        raise EdgekitError("--list-devices lists devices and exits; it is not a service")
    exe = shutil.which("edge-run") or str(Path(sys.executable).with_name("edge-run"))
    model_abs = str(Path(model).resolve())
    args = [model_abs if (a == model and args[i - 1] == "--model") else a for i, a in enumerate(args)]
    record = _value(args, "--record")
    publish = _value(args, "--publish")
    lines = [
        "# Written by `edgekit service --print`. Install on the device:",
        f"#   sudo useradd --system --no-create-home --groups audio {user}   (once)",
        "#   sudo cp edge-run.service /etc/systemd/system/ && sudo systemctl daemon-reload",
        "#   sudo systemctl enable --now edge-run      # logs: journalctl -u edge-run -f", "[Unit]",
        f"Description={description or 'edgekit edge-run: ' + Path(model).name}",
        "After=network-online.target sound.target" if publish else "After=sound.target",
    ]
    if publish:
        lines.append("Wants=network-online.target")
    lines += [
        "StartLimitIntervalSec=0", "", "[Service]", "Type=exec",
        "ExecStart=" + " ".join(_quote(a) for a in [exe, *args]), "Restart=on-failure", "RestartSec=5",
        "KillSignal=SIGTERM", "TimeoutStopSec=15", "SuccessExitStatus=0", f"User={user}", "SupplementaryGroups=audio",
        "Environment=PYTHONUNBUFFERED=1", "StandardOutput=journal", "StandardError=journal", "NoNewPrivileges=yes",
        "ProtectSystem=strict", "ProtectHome=read-only",
    ]
    if publish and _value(args, "--mqtt-user") and _value(args, "--mqtt-password-file") is None:
        lines += [f"# the MQTT password, not in this file: sudo install -D -m 600 -o {user} /dev/null {ENV_FILE}, then",
                  "#   write EDGEKIT_MQTT_PASSWORD=... into it", f"EnvironmentFile=-{ENV_FILE}"]
    if not (record and str(Path(record).resolve()).startswith("/tmp")):
        lines.append("PrivateTmp=yes")          # (not when recordings go to /tmp: they would vanish with it)
    if record:
        lines.append(f"ReadWritePaths={_quote(str(Path(record).resolve()))}")
    lines += ["", "[Install]", "WantedBy=multi-user.target", ""]
    return "\n".join(lines)


