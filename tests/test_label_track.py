"""Label files of long recordings (Audacity's Export Labels format): what is read, what is refused."""
import pytest

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.formats.label_track import read_label_track, write_label_track


def _file(tmp_path, text, name="labels.txt", mode="w"):
    p = tmp_path / name
    if mode == "wb":
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    return p


def test_audacity_labels_commas_comments_and_spectral_lines(tmp_path):
    text = ("\ufeff# made by hand\n"
            "2.500000\t3.100000\tseven\n"
            "\\\t100.0\t3000.0\n"                       # Audacity: the frequencies of a spectral selection
            "\n"
            "0.25,0.75, two words \n"                   # commas, a label with a space
            "5\t5\tpoint\n")                            # a point label
    assert read_label_track(_file(tmp_path, text)) == [(0.25, 0.75, "two words"), (2.5, 3.1, "seven"),
                                                       (5.0, 5.0, "point")]


def test_write_then_read_is_the_same_regions(tmp_path):
    regions = [(0.0, 0.5, "a"), (1.25, 2.0, "b c"), (3.0, 3.0, "d")]
    write_label_track(tmp_path / "l.txt", regions)
    assert read_label_track(tmp_path / "l.txt") == regions


@pytest.mark.parametrize("text, says", [
    ("1.0\t2.0\n", "line 1: expected 'start<TAB>end<TAB>label'"),
    ("1.0\t2.0\t\n", "line 1: expected"),
    ("# x\none\t2.0\tseven\n", "line 2: the start and end must be seconds"),
    ("2.0\t1.0\tseven\n", "need 0 <= start <= end"),
    ("-1\t1.0\tseven\n", "need 0 <= start <= end"),
    ("nan\t1.0\tseven\n", "need 0 <= start <= end"),
    ("0\tinf\tseven\n", "need 0 <= start <= end"),
    ("0\t1\tse\x1bven\n", "unprintable character U+001B"),
    ("0\t1.5\tone\n1.0\t2.0\ttwo\n", "'one' (0-1.5 s) and 'two' (1-2 s) overlap"),
    ("# nothing but comments\n\n", "no labelled regions"),
])
def test_bad_label_files_are_one_line_errors(tmp_path, text, says):
    with pytest.raises(EdgekitError, match=None) as e:
        read_label_track(_file(tmp_path, text))
    assert says in e.value.message and "\n" not in e.value.message


def test_not_text_missing_and_too_large(tmp_path):
    with pytest.raises(EdgekitError, match="not a UTF-8 text file"):
        read_label_track(_file(tmp_path, b"\xff\xfe\x00\x01binary", mode="wb"))
    with pytest.raises(EdgekitError, match="--labels .*No such file"):
        read_label_track(tmp_path / "missing.txt")
    big = tmp_path / "big.txt"
    with open(big, "wb") as f:
        f.truncate((16 << 20) + 1)
    with pytest.raises(EdgekitError, match="too large for a label file"):
        read_label_track(big)
