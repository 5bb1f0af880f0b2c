"""Unseen-speaker keyword accuracy on FSDD: train ``edgekit train audio`` on two speakers, test on the third.

All three folds (jackson, nicolas, theo held out in turn), float32 Keras and TFLite int8 (``edgekit convert``),
each fold and the mean; then one training speaker only (the other two held out) to show how accuracy grows
with the number of training speakers. A third part trains on all three speakers' takes 0-39 and tests on their
takes 40-49 (``known_speakers``): the same stream and detector on voices the model has heard, what separates
the detector's share of a stream figure from the unseen voice's. A fourth (``enrol``, by take count) is each
two-speaker fold with the first ``--enrol-takes`` takes (default 5 per digit) of the held-out speaker added to
training, tested on the speaker's other takes: what a user recording a few takes of a new voice gains. Also the
parameters, MACs and file sizes of the DS-CNN and the course CNN. Writes ``benchmarks/results/fsdd_folds.json``.

    .venv/bin/python benchmarks/fsdd_folds.py [--data ../shared/data/fsdd/recordings] [--quick]
        [--parts two,one,known,enrol] [--enrol-takes 5]
        # a subset of --parts re-runs those parts and keeps the others in the JSON

Every fold's training split also gets ``--tts-voices 100 --tts-flite-voices 50`` (150 synthetic speakers,
espeak-ng's and flite's, saying the ten digits, about a tenth of them held out whole for validation, none ever
in the test: ``edgekit.train.tts``); ``--tts-voices 0 --tts-flite-voices 0`` measures real speakers alone.

"Keyword accuracy" is the accuracy on the held-out speaker's real digit clips (500 per fold); the test split
also holds silence and unknown clips, whose accuracy is in ``test_accuracy``.

Each two-speaker fold also plays the held-out speaker's clips as one stream through the int8 model
(:func:`edgekit.edge.pipeline.stream_eval.evaluate`: 2 s gaps, white noise at 20 dB SNR, seed 0, the detector settings
the model's spec carries) and records ``detection_rate``, ``false_alarms_per_hour`` and the delay p50/p90
(``stream``) and the detection rate of the same stream with no noise and at 40, 30 and 10 dB (``by_snr``),
and the same at 20 dB on the fold's validation clips (the training speakers' held-out 10 %, the data the
detector defaults were chosen on: ``stream_validation``). About 8-9 minutes per fold on one core.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SPEAKERS = ("jackson", "nicolas", "theo")
LABEL_RX = r"^(\d+)_"
GROUP_RX = {"speakers": r"^\d+_([a-z]+)_",              # held out by speaker (unseen voices)
            "takes": r"^\d+_[a-z]+_(\d+)\.wav$",       # held out by take (0-49; voices heard in training)
            "speaker_takes": r"^\d+_([a-z]+_\d+)\.wav$"}  # held out by speaker and take (enrolment)
KNOWN_TEST_TAKES = [str(t) for t in range(40, 50)]
PARTS = ("two", "one", "known", "enrol")
SNR_SWEEP = (None, 40, 30, 10)        # besides 20 dB: the held-out stream with no noise, less and more


def edgekit(*args: str) -> str:
    exe = str(Path(sys.executable).with_name("edgekit"))
    p = subprocess.run([exe, *args], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"edgekit {' '.join(args)} failed:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return p.stdout


def int8_accuracy(run: Path, labels: list[str]) -> dict:
    """Accuracy of the int8 TFLite file on the run's test.npz, overall and on the keywords (digits)."""
    out = json.loads(edgekit("convert", str(run), "--to", "tflite", "--precision", "int8", "--json"))
    from edgekit.edge.frontend import build
    from edgekit.edge.model.model import Model
    from edgekit.edge.core.spec import Spec
    spec = Spec.load(run)
    with np.load(run / "test.npz") as z:
        x, y = z["x"], z["y"]
    model = Model(out["artifact"])
    pred = model.predict(build(spec)(x)).argmax(1)
    kw = ~np.isin(y, [labels.index(k) for k in ("silence", "unknown") if k in labels])
    return {"test_accuracy": float(np.mean(pred == y)), "keyword_accuracy": float(np.mean(pred[kw] == y[kw])),
            "agreement_with_keras": out["agreement"], "size_bytes": out["size_bytes"], "artifact": out["artifact"]}


def stream(model: str, data: str, names: list[str], work: Path, max_clips: int | None,
           sweep: bool = False) -> dict:
    """stream-eval of ``model`` on the clips ``names`` of folder ``data`` (linked into ``work``) at 20 dB SNR;
    ``sweep``: also at each of ``SNR_SWEEP`` (``by_snr``: the same stream, the noise level changed)."""
    from edgekit.edge.pipeline.stream_eval import evaluate
    work.mkdir(parents=True, exist_ok=True)
    for old in work.glob("*.wav"):
        old.unlink()
    for n in names:
        (work / n).symlink_to(Path(data) / n)
    r = evaluate(model, str(work), label_regex=LABEL_RX, snr_db=20, seed=0, max_clips=max_clips)
    keep = ("detection_rate", "false_alarms_per_hour", "delay_ms", "detected", "missed", "wrong_label",
            "duplicates", "false_alarms", "utterances", "hours", "gap_hours", "hop_s", "detection",
            "utterance_snr_db")
    out = {k: r[k] for k in keep}
    if sweep:
        out["by_snr"] = {}
        for snr in SNR_SWEEP:
            e = evaluate(model, str(work), label_regex=LABEL_RX, snr_db=snr, seed=0, max_clips=max_clips)
            out["by_snr"]["clean" if snr is None else f"{snr:g}"] = {
                k: e[k] for k in ("detection_rate", "missed", "wrong_label", "false_alarms_per_hour")}
    return out


def validation_names(run: Path) -> list[str]:
    """The file names of the fold's validation clips (the training speakers' held-out 10 %, as
    ``edgekit train audio`` split them: metrics.json's ``val_files``)."""
    return json.loads((run / "metrics.json").read_text())["val_files"]


def fold(data: str, out: Path, test: list[str], extra: list[str], stream_clips: int | None = None,
         by: str = "speakers") -> dict:
    """One train/test split; ``test``: the groups held out, speakers or takes (``by``: a key of GROUP_RX)."""
    t0 = time.perf_counter()
    edgekit("train", "audio", "--data", data, "--label-regex", LABEL_RX, "--group-regex", GROUP_RX[by],
            "--test-groups", ",".join(test), "--out", str(out), *extra)
    m = json.loads((out / "metrics.json").read_text())
    row = {f"test_{by}": test, f"train_{by}": m["groups"]["train_groups"],
           "float32": {"test_accuracy": m["test_accuracy"], "keyword_accuracy": m["keyword_accuracy"],
                       "accuracy_by_group": m["accuracy_by_group"]},
           "epochs_run": m["epochs_run"], "best_epoch": m["best_epoch"], "parameters": m["parameters"],
           "macs": m["macs"], "features": m["features"], "arch": m["arch"]}
    row["int8"] = int8_accuracy(out, m["labels"])
    if stream_clips is not None:
        rx = re.compile(GROUP_RX[by])
        held = sorted(p.name for p in Path(data).glob("*.wav") if (g := rx.match(p.name)) and g.group(1) in test)
        model = row["int8"].pop("artifact")
        row["stream"] = stream(model, data, held, out / "stream-test", stream_clips or None, sweep=True)
        row["stream_validation"] = stream(model, data, validation_names(out), out / "stream-val", None)
    else:
        row["int8"].pop("artifact")
    row["seconds"] = round(time.perf_counter() - t0, 1)
    (who, _, first), last = test[0].rpartition("_"), test[-1].rpartition("_")[2]   # takes: "40"; "theo_5"
    name = ",".join(test) if by == "speakers" else f"{who} takes {first}-{last}".lstrip()
    line = (f"  test {name:<16} float32 keywords {row['float32']['keyword_accuracy']:.4f}  int8 "
            f"{row['int8']['keyword_accuracy']:.4f}")
    if "stream" in row:
        st, sv = row["stream"], row["stream_validation"]
        d = st["delay_ms"] or {"p50": float("nan"), "p90": float("nan")}
        line += (f"  stream int8: detected {st['detection_rate']:.3f}, {st['false_alarms_per_hour']:.1f} false "
                 f"alarms/h, delay p50/p90 {d['p50']:.0f}/{d['p90']:.0f} ms (validation {sv['detection_rate']:.3f}, "
                 f"{sv['false_alarms_per_hour']:.1f}/h)")
    print(f"{line}  ({row['seconds']:.0f} s)", flush=True)
    return row


def enrol_row(row: dict, speaker: str, takes: int) -> dict:
    """An enrolment fold's row named by speaker and take range: its groups are speaker_take (``theo_5``), so
    the group lists and per-group accuracies would run to over a hundred entries each."""
    train = row.pop("train_speaker_takes")
    del row["test_speaker_takes"], row["float32"]["accuracy_by_group"]
    return {"test_speaker": speaker, "test_takes": [takes, 49], "enrolled_takes": [0, takes - 1],
            "train_speakers": sorted({g.rsplit("_", 1)[0] for g in train}), **row}


def keyword_mean(folds: list[dict]) -> dict:
    """The folds' mean keyword accuracy, float32 and int8."""
    return {p: float(np.mean([r[p]["keyword_accuracy"] for r in folds])) for p in ("float32", "int8")}


def stream_mean(folds: list[dict]) -> dict | None:
    """The folds' mean stream detection rate and false alarms per hour, and by noise level where every fold
    has the sweep; None without streams."""
    rows = [r["stream"] for r in folds if "stream" in r]
    if not rows:
        return None
    out = {k: float(np.mean([r[k] for r in rows])) for k in ("detection_rate", "false_alarms_per_hour")}
    if all("by_snr" in r for r in rows):
        out["by_snr"] = {k: float(np.mean([r["by_snr"][k]["detection_rate"] for r in rows]))
                         for k in rows[0]["by_snr"]}
    return out


def enrol_summary(folds: list[dict]) -> dict:
    """The enrolment folds and their means."""
    st = stream_mean(folds)
    return {"folds": folds, "keyword_mean": keyword_mean(folds), **({"stream_mean": st} if st else {})}


def model_sizes() -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from edgekit.train.models import dscnn, macs, stft_cnn
    out = {}
    # the DS-CNN on 8 kHz MFCCs (49 frames × 13), the course CNN on the STFT task's spectrogram of 1 s
    for name, model in (("dscnn", dscnn((49, 13, 1), 12)), ("course_stft_cnn", stft_cnn((129, 35, 1), 12))):
        out[name] = {"input": list(model.input_shape[1:]), "parameters": int(model.count_params()),
                     "macs": macs(model), "float32_bytes": int(model.count_params()) * 4}
    out["macs_ratio"] = out["dscnn"]["macs"] / out["course_stft_cnn"]["macs"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "fsdd" / "recordings"))
    ap.add_argument("--work", default="/tmp/fsdd_folds")
    ap.add_argument("--quick", action="store_true", help="Two-speaker folds only (= --parts two).")
    ap.add_argument("--parts", default=",".join(PARTS),
                    help="Which parts to run: two (two speakers, test on the third), one (one speaker, test on "
                         "the other two), known (all three, test on takes 40-49), enrol (two speakers and "
                         "--enrol-takes of the third, test on its other takes); the others' results are kept "
                         "from --out.")
    ap.add_argument("--enrol-takes", type=int, default=5,
                    help="enrol: the held-out speaker's takes 0..N-1 (per digit) joining training.")
    ap.add_argument("--stream-clips", type=int, default=0,
                    help="Clips of the held-out speaker in each fold's stream (0: all 500; -1: no stream).")
    ap.add_argument("--tts-voices", type=int, default=100,
                    help="Synthetic espeak-ng speakers added to each fold's training split (0: none).")
    ap.add_argument("--tts-flite-voices", type=int, default=50,
                    help="Synthetic flite speakers added to each fold's training split (0: none).")
    ap.add_argument("--extra", default="", help="Extra 'edgekit train audio' flags, e.g. '--features logmel'.")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "fsdd_folds.json"))
    a = ap.parse_args()
    extra = [*(["--tts-voices", str(a.tts_voices)] if a.tts_voices else []),
             *(["--tts-flite-voices", str(a.tts_flite_voices)] if a.tts_flite_voices else []), *a.extra.split()]
    parts = {p.strip() for p in a.parts.split(",") if p.strip()}
    if bad := sorted(parts - set(PARTS)):
        raise SystemExit(f"--parts: unknown {', '.join(bad)}; choose from {', '.join(PARTS)}")
    work, out = Path(a.work), Path(a.out)
    stream_clips = None if a.stream_clips < 0 else a.stream_clips
    keep = parts != set(PARTS) and out.exists()          # a subset of --parts updates the JSON (--quick: anew)
    if a.quick:
        parts = {"two"}
    result = json.loads(out.read_text()) if keep else {}
    if keep and result.get("flags") != extra:
        raise SystemExit(f"--parts: {out} was measured with flags {result.get('flags')}, not {extra}; run all parts")
    result.update({"data": a.data, "flags": extra, "stream_clips": a.stream_clips, "models": model_sizes()})
    if "two" in parts:
        print("train on two speakers, test on the third:")
        result["two_speakers"] = [fold(a.data, work / f"two-{s}", [s], extra, stream_clips) for s in SPEAKERS]
    if "one" in parts:
        print("train on one speaker, test on the other two:")
        result["one_speaker"] = [fold(a.data, work / f"one-{s}", [o for o in SPEAKERS if o != s], extra)
                                 for s in SPEAKERS]
    if "known" in parts:
        print("train on all three speakers' takes 0-39, test on their takes 40-49:")
        result["known_speakers"] = fold(a.data, work / "known", KNOWN_TEST_TAKES, extra, stream_clips,
                                        by="takes")
    if "enrol" in parts:
        if not 0 < a.enrol_takes < 50:
            raise SystemExit("--enrol-takes must be 1-49 (FSDD has takes 0-49 per speaker and digit)")
        k = a.enrol_takes
        print(f"train on two speakers and takes 0-{k - 1} of the third, test on its other takes:")
        result.setdefault("enrol", {})[str(k)] = enrol_summary(
            [enrol_row(fold(a.data, work / f"enrol{k}-{s}", [f"{s}_{t}" for t in range(k, 50)], extra,
                            stream_clips, by="speaker_takes"), s, k) for s in SPEAKERS])
    for part in ("two_speakers", "one_speaker"):
        if rows := result.get(part):
            m = result[f"{part}_mean"] = keyword_mean(rows)
            print(f"{part}: mean keyword accuracy float32 {m['float32']:.4f}, int8 {m['int8']:.4f}")
    result.pop("stream_mean", None)                      # none of a re-run two-speaker part without streams
    if st := stream_mean(result.get("two_speakers", [])):
        result["stream_mean"] = st
        print(f"stream (int8, unseen speaker): mean detection rate {st['detection_rate']:.4f}, "
              f"{st['false_alarms_per_hour']:.2f} false alarms/h")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
