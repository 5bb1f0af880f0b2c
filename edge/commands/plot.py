"""``edgekit stream-eval --plot``: a stream's window scores, utterances and events over time, as a PNG."""
from __future__ import annotations

from pathlib import Path
from typing import Any


def plot(result: dict[str, Any], path) -> None:
    """Scores of every window over time, the utterances (shaded, labelled) and the events, as a PNG."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        from edgekit.edge.core.errors import MissingExtraError
        raise MissingExtraError("--plot", "matplotlib", "train") from None
    fig, ax = plt.subplots(figsize=(14, 4))
    for a, b, label, _ in result["truth"]:
        ax.axvspan(a, b, color="0.9")
        ax.text((a + b) / 2, 1.02, label, ha="center", fontsize=7)
    t = [w[0] for w in result["scores"] if w[2] is not None]
    ax.plot(t, [w[2] for w in result["scores"] if w[2] is not None], lw=0.6, label="top score of each window")
    for e in result["event_list"]:
        ax.axvline(e["t"], color="tab:red", lw=0.8)
        ax.text(e["t"], 0.02, e["event"], color="tab:red", fontsize=7, rotation=90)
    ax.axhline(result["detection"]["threshold"], color="k", ls=":", lw=0.6, label="threshold")
    ax.set(xlabel="seconds", ylabel="score", ylim=(0, 1.08),
           title=f"{Path(result['model']).name}: {result['detection_rate']:.1%} detected, "
                 f"{result['false_alarms_per_hour']:.1f} false alarms/h")
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
