"""Text pieces of result and summary lines, shared by the tasks' formatters and the text sink."""
from __future__ import annotations


def plural(count: int, noun: str) -> str:
    """'1 window', '3 windows'."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def stage_times(lat: dict[str, float]) -> str:
    """'features 0.20 ms  inference 0.58 ms  total 0.83 ms': the stages of one result line."""
    return f"features {lat['features']:.2f} ms  inference {lat['inference']:.2f} ms  total {lat['total']:.2f} ms"


def latency_table(latency_ms: dict[str, dict[str, float]]) -> list[str]:
    """The per-stage p50/p90/p99/max lines of a text summary."""
    lines = [f"  latency (ms)      {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}"]
    for stage, st in latency_ms.items():
        lines.append(f"    {stage:<15} {st['p50']:8.3f} {st['p90']:8.3f} {st['p99']:8.3f} {st['max']:8.3f}")
    return lines
