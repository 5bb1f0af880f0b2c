"""The model the device benchmarks measure: the STFT int8 TFLite of ``edgekit train stft`` (defaults)."""
from __future__ import annotations

import tempfile
from pathlib import Path


def stft_int8_run(run: str | None) -> Path:
    """``run`` (a training run directory), or the default ``edgekit train stft`` run trained now in a
    temporary directory (about a minute); its ``stft_int8.tflite`` is converted if missing. The run directory."""
    run_dir = Path(run) if run else Path(tempfile.mkdtemp()) / "stft"
    if not run:
        from edgekit.train.stft import train_stft
        train_stft(run_dir, verbose=0, log=lambda *a: None)
    if not (run_dir / "stft_int8.tflite").exists():
        from edgekit.convert.export import convert_run
        convert_run(run_dir, "tflite", "int8", log=lambda *a: None)
    return run_dir
