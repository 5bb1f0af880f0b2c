"""Silence C-level stderr chatter (LiteRT's "Created TensorFlow Lite XNNPACK delegate", the TFLite
converter's MLIR dumps) while keeping it available when something fails."""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile


class CapturedStderr:
    text: str = ""

    def last_line(self) -> str:
        lines = [ln for ln in self.text.splitlines() if ln.strip()]
        return lines[-1].strip() if lines else ""


@contextlib.contextmanager
def captured_stderr():
    """Redirect file descriptor 2 to a temporary file for the duration; ``.text`` holds what was written."""
    cap = CapturedStderr()
    if os.environ.get("EDGEKIT_VERBOSE"):
        yield cap
        return
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # pytest capture, notebooks
        yield cap
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), fd)
        try:
            yield cap
        finally:
            sys.stderr.flush()
            os.dup2(saved, fd)
            os.close(saved)
            tmp.seek(0)
            cap.text = tmp.read().decode("utf-8", "replace")
