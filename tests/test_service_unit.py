"""``edgekit service --print`` (issue 28): a value that would break the unit's line is refused, every value is quoted
for the line it goes on, and every path is absolute (the service runs from /).

The unit is read back with a small re-implementation of systemd's own parsing (conf-parser's lines, extract_first_word
with EXTRACT_UNQUOTE and EXTRACT_CUNESCAPE, the executable's prefixes, % specifiers, $ expansion), and, where
systemd-analyze is installed, verified by systemd itself."""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import bin_path, run
from edgekit.edge.core.errors import EdgekitError

EVIL = "ExecStartPre=+/tmp/evil.sh"

# -- the unit as systemd reads it -------------------------------------------------------------------------------------

WHITESPACE = " \t\n\r"
ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"',
           "'": "'", "s": " "}


def _assignments(text: str) -> list[tuple[str, str, str]]:
    """The unit's (section, key, value) assignments as systemd's config parser reads them: a line ends at LF, CR or
    NUL; one ending in an unescaped backslash goes on with the next (comment lines in between skipped); whitespace
    around the key and the value goes; lines starting with # or ; are comments."""
    out, section, pending = [], None, None
    for raw in re.split(r"\r\n|\n|\r|\0", text):
        if pending is not None and raw.strip(WHITESPACE)[:1] in ("#", ";"):
            continue
        line = raw if pending is None else pending + raw
        escaped = False
        for c in line:
            escaped = not escaped and c == "\\"
        if escaped:
            pending = line[:-1] + " "
            continue
        pending = None
        line = line.strip(WHITESPACE)
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, eq, value = line.partition("=")
        assert eq, f"not an assignment: {line!r}"
        out.append((section, key.strip(WHITESPACE), value.strip(WHITESPACE)))
    return out


def _unit(text: str) -> dict[str, list[str]]:
    """Every key's values, in order; the unit must hold exactly one ExecStart and no other Exec*= line."""
    keys: dict[str, list[str]] = {}
    for section, key, value in _assignments(text):
        keys.setdefault(key, []).append(value)
        assert section in ("Unit", "Service", "Install"), section
    assert [k for k in keys if k.startswith("Exec")] == ["ExecStart"] and len(keys["ExecStart"]) == 1, keys
    return keys


def _escape(s: str, i: int, cunescape: bool) -> tuple[str, int]:
    """The character a backslash escape at s[i] (just after the backslash) stands for, and the index after it."""
    assert i < len(s), f"{s!r}: a trailing backslash"
    if not cunescape:
        return s[i], i + 1
    c = s[i]
    if c in ESCAPES:
        return ESCAPES[c], i + 1
    for lead, n, base in (("x", 2, 16), ("u", 4, 16), ("U", 8, 16)):
        if c == lead:
            return chr(int(s[i + 1:i + 1 + n], base)), i + 1 + n
    if re.fullmatch(r"[0-7]{3}", s[i:i + 3]):
        return chr(int(s[i:i + 3], 8)), i + 3
    raise AssertionError(f"{s!r}: an unknown escape \\{c} (systemd keeps it verbatim, with a warning)")


def _word(s: str, i: int, cunescape: bool) -> tuple[str | None, int]:
    """systemd's extract_first_word(EXTRACT_UNQUOTE[|EXTRACT_CUNESCAPE]) from s[i]: (the word or None, next index)."""
    while i < len(s) and s[i] in WHITESPACE:
        i += 1
    if i == len(s):
        return None, i
    word, quote = [], None
    while i < len(s):
        c = s[i]
        if c == "\\":
            ch, i = _escape(s, i + 1, cunescape)
            word.append(ch)
        elif quote:
            if c == quote:
                quote = None
            else:
                word.append(c)
            i += 1
        elif c in "'\"":
            quote, i = c, i + 1
        elif c in WHITESPACE:
            break
        else:
            word.append(c)
            i += 1
    assert quote is None, f"{s!r}: unbalanced quoting"
    return "".join(word), i


def _undouble(s: str, char: str, why: str) -> str:
    """``s`` with each doubled ``char`` made one; a single ``char`` fails the test (it would be ``why``)."""
    out, i = [], 0
    while i < len(s):
        if s[i] == char:
            assert s[i + 1:i + 2] == char, f"{s!r}: {why} ({s[i:i + 2]!r})"
            i += 1
        out.append(s[i])
        i += 1
    return "".join(out)


def _specifiers(s: str) -> str:
    """unit_full_printf() for text that must hold no specifier: %% is %, any other % would expand (a failure)."""
    return _undouble(s, "%", "a % specifier would expand")


def _environment(word: str) -> str:
    """replace_env_argv() for a word that must name no variable: $$ is $; a word $NAME, or ${ anywhere, would expand."""
    assert not (word.startswith("$") and word[1:2] not in ("{", "$")), f"{word!r} is a variable, split at whitespace"
    return _undouble(word, "$", "a lone $ expands or is dropped")


def _exec_start(value: str) -> tuple[str, list[str]]:
    """ExecStart= as systemd runs it: (the executable's prefix characters, argv), argv[0] being the executable."""
    first, i = _word(value, 0, cunescape=True)
    assert first is not None and first != ";", value
    j = 0
    while j < len(first) and first[j] in "-@:+!":
        j += 1
    prefixes, path = first[:j], _specifiers(first[j:])
    assert not re.search(r"[\x00-\x1f\x7f\"'\\]", path), f"systemd refuses the executable {path!r}"
    argv = [path]
    while True:
        while i < len(value) and value[i] in WHITESPACE:
            i += 1
        rest = value[i:]
        assert not re.match(r";(\s|$)", rest), f"a second command line: {rest!r}"
        if re.match(r"\\;(\s|$)", rest):
            argv.append(";")
            i += 2
            continue
        word, i = _word(value, i, cunescape=True)
        if word is None:
            break
        argv.append(_specifiers(word))
    if ":" not in prefixes:
        argv = [_environment(a) for a in argv]
    return prefixes, argv


def _paths(value: str) -> list[str]:
    """ReadWritePaths= as systemd reads it: words unquoted (backslash takes the next character as it is), the - and +
    prefixes, specifiers; every path absolute."""
    out, i = [], 0
    while True:
        word, i = _word(value, i, cunescape=False)
        if word is None:
            return out
        assert not word.startswith(("-", "+")), f"{word!r}: a prefix"
        path = _specifiers(word)
        assert path.startswith("/"), path
        out.append(path)


def _check_the_reading() -> None:
    """The re-implementation itself, on lines whose reading systemd.syntax(7) and systemd.service(5) spell out."""
    prefixes, argv = _exec_start(r'''-/bin/echo "a b" 'c "d"' e\sf "\\x\"" "" 100%% $$HOME \; "x"y''')
    assert prefixes == "-" and argv == ["/bin/echo", "a b", 'c "d"', "e f", '\\x"', "", "100%", "$HOME", ";", "xy"]
    assert _paths(r'"/a b" /c\"d') == ["/a b", '/c"d']
    assert _assignments("[Unit]\nDescription=a \\\n# c\n b\n") == [("Unit", "Description", "a   b")]
    for bad in ("/bin/x ; /bin/y", "/bin/x $HOME", "/bin/x %n", '/bin/x "a', "/bin/x \\q", "/bin/x e\\ f"):
        with pytest.raises(AssertionError):
            _exec_start(bad)


# -- the command ------------------------------------------------------------------------------------------------------

def _service(*edge_run_args, options=(), check=True, **kw):
    """Run ``edgekit service --print [options] -- edge_run_args``."""
    return run(bin_path("edgekit"), "service", "--print", *options, "--", *edge_run_args, check=check, **kw)


def _refused(p, *words):
    """Exit status 2, nothing on stdout, one line on stderr naming ``words``."""
    assert p.returncode == 2 and p.stdout == "", (p.returncode, p.stdout)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), p.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def test_a_newline_in_source_is_refused(tmp_path):
    """The issue's attack: --source wav:/x.wav<newline>ExecStartPre=+/tmp/evil.sh made a root ExecStartPre line."""
    p = _service("--model", str(tmp_path / "m.tflite"), "--source", f"wav:/x.wav\n{EVIL}", check=False)
    msg = _refused(p, "--source", "control character (U+000A)")
    assert EVIL not in msg


def test_a_newline_in_the_description_is_refused(tmp_path):
    """The same attack through edgekit service's own --description."""
    p = _service("--model", str(tmp_path / "m.tflite"), options=("--description", f"Pump 1\n{EVIL}"), check=False)
    _refused(p, "--description", "U+000A")


@pytest.mark.parametrize("form", ["--model X", "--model=X"])
def test_a_model_file_with_a_newline_in_its_name_is_refused(tmp_path, form):
    """A real file whose name holds a newline (it reached ExecStart and the default Description)."""
    model = tmp_path / f"kws\n{EVIL.replace('/', '_')}.tflite"
    model.write_bytes(b"\0")
    args = ["--model", str(model)] if form == "--model X" else [f"--model={model}"]
    _refused(_service(*args, "--source", "mic", check=False), "--model", "U+000A")


def test_a_relative_path_from_a_folder_with_a_newline_is_refused(tmp_path):
    """The absolute path is checked too: here the newline comes from the current folder, not from the argument."""
    work = tmp_path / f"w\n{EVIL.replace('/', '_')}"
    work.mkdir()
    (work / "m.tflite").write_bytes(b"\0")
    _refused(_service("--model", "m.tflite", check=False, cwd=work), "--model", "U+000A")


@pytest.mark.parametrize("char", ["\0", "\r", "\t", "\x1b", "\x7f", "\x85", "\x9b", "\u2028", "\u2029"])
@pytest.mark.parametrize("where", ["source", "flag value", "flag", "user", "description"])
def test_every_control_character_is_refused_everywhere(tmp_path, char, where):
    """C0, DEL, C1 and the Unicode line separators, in every value that reaches the unit (in-process: argv cannot
    carry NUL)."""
    from edgekit.edge.commands.service import unit_text
    args, user, description = ["--model", str(tmp_path / "m.tflite"), "--source", "mic"], "edgekit", None
    if where == "source":
        args[3] = f"wav:/x{char}.wav"
    elif where == "flag value":
        args += ["--label-regex", f"a{char}b"]
    elif where == "flag":
        args += [f"--events-only{char}"]
    elif where == "user":
        user = f"pi{char}"
    else:
        description = f"Pump{char}1"
    with pytest.raises(EdgekitError, match=rf"\(U\+{ord(char):04X}\); a systemd unit cannot carry it") as e:
        unit_text(args, user=user, description=description)
    assert "\n" not in e.value.message


@pytest.mark.parametrize("form", ["--flag value", "--flag=value"])
@pytest.mark.parametrize("kind", ["wav", "pkl", "images", "csv"])
def test_every_path_is_made_absolute(tmp_path, form, kind):
    """--model, --shadow, --spec, --record, --ca-file, --mqtt-password-file and a file-backed --source, in both forms,
    relative to the folder --print ran in; the other arguments stay as they are."""
    base = tmp_path.resolve()
    work = base / "work"
    work.mkdir()
    given = [("--model", "models/m.tflite"), ("--shadow", "models/f.tflite"), ("--spec", "../spec.json"),
             ("--record", "rec"), ("--ca-file", "./ca.pem"), ("--mqtt-password-file", "pw"),
             ("--source", f"{kind}:data/in")]
    want = {"--model": work / "models/m.tflite", "--shadow": work / "models/f.tflite", "--spec": base / "spec.json",
            "--record": work / "rec", "--ca-file": work / "ca.pem", "--mqtt-password-file": work / "pw"}
    args, expected = [], []
    for flag, value in given:
        new = f"{kind}:{work / 'data/in'}" if flag == "--source" else str(want[flag])
        args += [flag, value] if form == "--flag value" else [f"{flag}={value}"]
        expected += [flag, new] if form == "--flag value" else [f"{flag}={new}"]
    args += ["--events-only", "--device", "rel/not/a/path"]
    expected += ["--events-only", "--device", "rel/not/a/path"]
    unit = _unit(_service(*args, cwd=work).stdout)
    prefixes, argv = _exec_start(unit["ExecStart"][0])
    assert prefixes == "" and argv[0].startswith("/") and argv[1:] == expected
    assert [p for v in unit["ReadWritePaths"] for p in _paths(v)] == [str(work / "rec")]
    assert _specifiers(unit["Description"][0]) == "edgekit edge-run: m.tflite"


def test_values_round_trip_through_systemds_quoting(tmp_path):
    """%, $, ${..}, quotes, spaces, backslashes, ; and empty values: read back as systemd reads the unit, ExecStart's
    argv is edge-run's intended argv, Description and ReadWritePaths are the values given; systemd-analyze verify
    accepts the unit without a warning."""
    _check_the_reading()
    base = tmp_path.resolve()
    odd = "odd \"dir\" it's \\ 100% $HOME ${X} ; x"
    (base / odd).mkdir()
    args = ["--model", f"{odd}/m 50%.tflite", "--source", f"wav:{odd}/a b.wav", "--record", f"{odd}/rec",
            "--label-regex", r"^(\w+)_\d+\.wav$", "--labels", "a b,c;d", "--device", "", "--provider", ";",
            "--publish", "mqtts://h/plant%20a/$SYS/#", "--mqtt-user", "$", "--record-when", "$HOME",
            "--mqtt-password-file", "\\;"]
    description = '  Pump 1 at 100% "loud" \\ $HOME ${X} %n  '
    p = _service(*args, options=("--description", description), cwd=base)
    unit = _unit(p.stdout)
    prefixes, argv = _exec_start(unit["ExecStart"][0])
    expected = list(args)
    expected[1] = str(base / odd / "m 50%.tflite")
    expected[3] = f"wav:{base / odd / 'a b.wav'}"
    expected[5] = str(base / odd / "rec")
    expected[-1] = str(base / "\\;")
    assert prefixes == "" and argv[1:] == expected
    assert _specifiers(unit["Description"][0]) == description.strip()
    assert [q for v in unit["ReadWritePaths"] for q in _paths(v)] == [str(base / odd / "rec")]
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (no systemd here): the unit was read back, not verified")
    f = tmp_path / "edge-run.service"
    f.write_text(p.stdout)
    v = subprocess.run(["systemd-analyze", "verify", str(f)], capture_output=True, text=True, check=False)
    assert v.returncode == 0 and not re.search(r"edge-run\.service:\d+:", v.stderr), v.stderr


def _stub(folder: Path) -> None:
    """An executable ``edge-run`` (it does nothing) in ``folder``."""
    folder.mkdir(parents=True)
    exe = folder / "edge-run"
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)


def test_the_executable_is_absolute_and_takes_no_prefix(tmp_path):
    """An edge-run found through a relative PATH entry named +x was written as ExecStart=+x/edge-run: systemd reads
    the + as 'run with full privileges'."""
    _stub(tmp_path / "+x")
    env = {**os.environ, "PATH": "+x" + os.pathsep + os.environ.get("PATH", "")}
    unit = _unit(_service("--model", "/opt/m.tflite", cwd=tmp_path, env=env).stdout)
    prefixes, argv = _exec_start(unit["ExecStart"][0])
    assert prefixes == "" and argv[0] == str(tmp_path.resolve() / "+x" / "edge-run")


@pytest.mark.parametrize("name", ["it's", 'a"b', "back\\slash", "100%", "$HOME"])
def test_an_executable_path_systemd_would_not_run_is_refused(tmp_path, name):
    """systemd refuses an executable whose path holds a quote or a backslash ("Executable name contains special
    characters"), and % and $ there read differently across systemd versions: refused here, with one line."""
    _stub(tmp_path / name)
    env = {**os.environ, "PATH": str(tmp_path / name) + os.pathsep + os.environ.get("PATH", "")}
    _refused(_service("--model", "/opt/m.tflite", env=env, check=False), "edge-run")


def test_a_description_ending_in_a_backslash_is_refused(tmp_path):
    """It would join the unit's next line (After=...) to the Description."""
    p = _service("--model", str(tmp_path / "m.tflite"), options=("--description", "Pump \\"), check=False)
    _refused(p, "--description", "backslash")


def test_a_user_that_is_not_a_plain_name_is_refused(tmp_path):
    """--user goes into User= and into the useradd command in the comment: ASCII, not starting with -."""
    for user in ("-oops", "pï", "a b"):
        _refused(_service("--model", str(tmp_path / "m.tflite"), options=("--user", user), check=False), "--user")


def test_private_tmp_only_when_recordings_are_not_in_a_private_folder(tmp_path):
    """PrivateTmp= gives the service its own /tmp and /var/tmp: recordings there would vanish with it; /tmpfoo is not
    under /tmp."""
    for record, private in (("/tmpfoo/rec", True), ("/var/tmp/rec", False), ("/tmp/rec", False), ("/srv/rec", True)):
        unit = _unit(_service("--model", str(tmp_path / "m.tflite"), "--record", record).stdout)
        assert ("PrivateTmp" in unit) == private, record


def test_every_source_kind_is_known():
    """Every --source kind a task reads either names a file or folder (made absolute) or names none."""
    from edgekit.edge import tasks
    from edgekit.edge.commands.service import PATH_SOURCES, PLAIN_SOURCES
    kinds = {k for name in tasks.REGISTRY for k in tasks.get(name).sources}
    assert kinds <= set(PATH_SOURCES) | set(PLAIN_SOURCES) and not set(PATH_SOURCES) & set(PLAIN_SOURCES), kinds
