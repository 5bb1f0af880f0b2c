"""Sinks: where results go. One line (text or JSON) per window, flushed as produced, and a summary."""
from __future__ import annotations

import json
import sys
from typing import IO, Any


def _fmt_ms(v: float) -> str:
    return f"{v:.2f}"


def plural(count: int, noun: str) -> str:
    """'1 window', '3 windows'."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


class TextSink:
    def __init__(self, out: IO[str] | None = None, quiet: bool = False):
        self.out = out or sys.stdout
        self.quiet = quiet

    def note(self, msg: str) -> None:
        print(f"# {msg}", file=sys.stderr, flush=True)

    def warn(self, msg: str) -> None:
        """A problem with the input that the stream survives (a skipped row, a gap): one stderr line."""
        print(f"warning: {msg}", file=sys.stderr, flush=True)

    def result(self, r: dict[str, Any]) -> None:
        if self.quiet:
            return
        lat = r["latency_ms"]
        value = f"{r['label']:<8} {r['score']:.3f}" if "label" in r else f"{r['forecast']:.2f}"
        truth = f"  (true {r['truth']})" if r.get("truth") is not None else ""
        print(f"t={r['t']:8.2f}s  {value}  features {_fmt_ms(lat['features'])} ms  inference "
              f"{_fmt_ms(lat['inference'])} ms  total {_fmt_ms(lat['total'])} ms{truth}", file=self.out,
              flush=True)

    def summary(self, s: dict[str, Any]) -> None:
        p = lambda *a: print(*a, file=self.out)  # noqa: E731
        p()
        p(f"summary: {plural(s['windows'], 'window')} from {s['source']} ({s['signal_seconds']:.1f} s of signal, "
          f"{s['stopped_by']})")
        p(f"  model    {s['model']}  [{s['backend']}]")
        bad = f", {plural(s['invalid_windows'], 'window')} with NaN/inf samples skipped" \
            if s.get("invalid_windows") else ""
        p(f"  dropped  {plural(s['dropped_windows'], 'window')}, {plural(s['overflows'], 'overrun')}{bad}")
        if s.get("accuracy") is not None:
            p(f"  accuracy {s['accuracy']:.4f} on {plural(s['labelled_windows'], 'labelled window')}")
        if s.get("labels"):
            p("  labels   " + ", ".join(f"{k}: {v}" for k, v in s["labels"].items()))
        p(f"  latency (ms)      {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}")
        for stage, st in s["latency_ms"].items():
            p(f"    {stage:<15} {st['p50']:8.3f} {st['p90']:8.3f} {st['p99']:8.3f} {st['max']:8.3f}")
        if s['real_time_factor'] is not None:
            p(f"  real-time factor  {s['real_time_factor']:.0f}× (seconds of signal per second of compute)")
        self.out.flush()

    # -- forecasts (task 'traffic', edgekit.edge.stream_rows) -------------------------------------------
    def forecast(self, r: dict[str, Any]) -> None:
        """One forecast line: time forecast, value, and the score of the previous forecast."""
        if self.quiet:
            return
        lat, u = r["latency_ms"], r.get("units", "")
        prev = ""
        if r.get("actual") is not None:
            prev = f"  | {r['from'][-5:]} actual {r['actual']:.2f} (error {r['error']:+.2f})"
        print(f"{r['t']}  forecast {r['forecast']:7.2f} {u}{prev}  features {_fmt_ms(lat['features'])} ms  "
              f"inference {_fmt_ms(lat['inference'])} ms  total {_fmt_ms(lat['total'])} ms", file=self.out,
              flush=True)

    def forecast_summary(self, s: dict[str, Any]) -> None:
        p = lambda *a: print(*a, file=self.out)  # noqa: E731
        u = s.get("units", "")
        p()
        p(f"summary: {s['forecasts']} forecasts of {s['target']} from {s['rows']} rows of {s['source']} "
          f"({s['first_t']} to {s['last_t']}, {s['stopped_by']})")
        p(f"  model       {s['model']}  [{s['backend']}, {s['precision']}], look-back {s['look_back']} rows")
        p(f"  skipped     {s['malformed_rows']} malformed rows; {s['gaps']} gaps ({s['resets']} window resets, "
          f"{s['filled_rows']} rows filled)")
        if s.get("mae") is not None:
            pm, pr = s["persistence"]["mae"], s["persistence"]["rmse"]
            p(f"  accuracy    MAE {s['mae']:.3f} {u}, RMSE {s['rmse']:.3f} {u} on {s['scored']} forecasts "
              f"with a next row (persistence: MAE {pm:.3f}, RMSE {pr:.3f})")
        else:
            p("  accuracy    no forecast had a next row to compare with")
        p(f"  latency (ms)      {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}")
        for stage, st in s["latency_ms"].items():
            p(f"    {stage:<15} {st['p50']:8.3f} {st['p90']:8.3f} {st['p99']:8.3f} {st['max']:8.3f}")
        self.out.flush()


class JsonSink(TextSink):
    def result(self, r: dict[str, Any]) -> None:
        print(json.dumps(r, separators=(",", ":")), file=self.out, flush=True)

    def summary(self, s: dict[str, Any]) -> None:
        print(json.dumps({"summary": s}, separators=(",", ":")), file=self.out, flush=True)

    def forecast(self, r: dict[str, Any]) -> None:
        print(json.dumps(r, separators=(",", ":")), file=self.out, flush=True)

    def forecast_summary(self, s: dict[str, Any]) -> None:
        self.summary(s)
