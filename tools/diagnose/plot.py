"""The PNG plot of diagnose_loss: loss and eval loss, learning rate, grad norm, findings marked."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import TYPE_CHECKING

from tools.core.extras import needs_extra
from tools.core.workspace import write_bytes_atomic
from tools.diagnose.series import rolling_median, window_for

if TYPE_CHECKING:
    from tools.diagnose.checks import Best
    from tools.diagnose.models import Finding
    from tools.diagnose.series import Curves

_COLOURS = {"severe": "#c62828", "warning": "#ef6c00", "info": "#1565c0"}


def draw(curves: Curves, findings: list[Finding], best: Best | None, path: Path, *, title: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise needs_extra("matplotlib", "--plot", instead="drop --plot; the report is written without it") from None
    lr, gn = curves.get("learning_rate").finite(), curves.get("grad_norm").finite()
    panels = 1 + (len(lr) > 0) + (len(gn) > 0)
    fig, axes = plt.subplots(
        panels,
        1,
        figsize=(9, 3 + 1.8 * (panels - 1)),
        sharex=True,
        gridspec_kw={"height_ratios": [3] + [1.3] * (panels - 1)},
    )
    axes = list(axes) if panels > 1 else [axes]
    ax = axes[0]
    loss, ev = curves.get("loss"), curves.get("eval_loss")
    if len(loss):
        fin = loss.finite()
        ax.plot(fin.steps, fin.values, color="#90a4ae", lw=0.8, label="train loss")
        if len(fin) >= 5:
            smooth = rolling_median(fin.values, window_for(len(fin), 0.08))
            ax.plot(fin.steps, smooth, color="#37474f", lw=1.6, label="train loss (rolling median)")
        for s, v in zip(loss.steps, loss.values, strict=False):
            if not math.isfinite(v):
                ax.axvline(s, color=_COLOURS["severe"], lw=0.6, alpha=0.5)
    if len(ev):
        fin = ev.finite()
        ax.plot(fin.steps, fin.values, "o-", color="#2e7d32", ms=3, lw=1.4, label="eval loss")
    if best is not None:
        ax.axvline(best.step, color="#2e7d32", ls="--", lw=1)
        ax.annotate(
            f"best {best.eval_loss:.3g}",
            (best.step, best.eval_loss),
            textcoords="offset points",
            xytext=(4, -12),
            fontsize=8,
            color="#2e7d32",
        )
    labelled: dict[tuple[float, float], int] = {}
    for f in findings:
        marked = [e for e in f.evidence[:3] if e.step is not None and e.value is not None and math.isfinite(e.value)]
        for e in marked:
            ax.plot([e.step], [e.value], "x", color=_COLOURS[f.severity], ms=8, mew=2)
        if marked:
            e0 = marked[0]
            key = (e0.step, e0.value)
            stack = labelled.get(key, 0)
            labelled[key] = stack + 1
            ax.annotate(
                f.kind,
                key,
                fontsize=8,
                color=_COLOURS[f.severity],
                xytext=(-6, 8 + 11 * stack),
                textcoords="offset points",
                ha="right",
                annotation_clip=True,
            )
    ax.set_ylabel("loss")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    i = 1
    if len(lr):
        axes[i].plot(lr.steps, lr.values, color="#6a1b9a", lw=1.2)
        axes[i].set_ylabel("learning rate", fontsize=8)
        axes[i].grid(alpha=0.3)
        i += 1
    if len(gn):
        axes[i].plot(gn.steps, gn.values, color="#00838f", lw=1)
        axes[i].set_ylabel("grad norm", fontsize=8)
        if max(gn.values) > 50 * max(min(gn.values), 1e-12) and min(gn.values) > 0:
            axes[i].set_yscale("log")
        axes[i].grid(alpha=0.3)
    axes[-1].set_xlabel("step")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    write_bytes_atomic(path, buf.getvalue())
