"""The PNG plot of diagnose_loss: loss and eval loss, learning rate, grad norm, findings marked.

Each panel's axes are set by its curves alone: a finding's marker goes on the panel of the series its value
belongs to (a grad_norm value is never drawn against the loss axis), and markers never widen an axis, so one
far-off value cannot flatten the curve.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tools.core.extras import needs_extra
from tools.core.workspace import write_bytes_atomic
from tools.diagnose.series import rolling_median, window_for

if TYPE_CHECKING:
    from tools.diagnose.checks import Best
    from tools.diagnose.models import Finding
    from tools.diagnose.series import Curves

_COLOURS = {"severe": "#c62828", "warning": "#ef6c00", "info": "#1565c0"}
_PANEL_OF = {"loss": "loss", "eval_loss": "loss", "learning_rate": "learning_rate", "grad_norm": "grad_norm"}


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise needs_extra("matplotlib", "--plot", instead="drop --plot; the report is written without it") from None
    return plt


def _loss_panel(ax: Any, curves: Curves, best: Best | None) -> None:
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
        value = best.value if best.value is not None else best.eval_loss
        y = best.eval_loss if best.eval_loss is not None else ax.get_ylim()[1]
        ax.annotate(
            f"best {best.metric} {value:.3g}" if value is not None else "best",
            (best.step, y),
            textcoords="offset points",
            xytext=(4, -12),
            fontsize=8,
            color="#2e7d32",
            annotation_clip=True,
        )
    ax.set_ylabel("loss")
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)


def _mark(panels: dict[str, Any], findings: list[Finding]) -> None:
    """Findings' evidence as crosses on the panel of their series, inside the limits the data set."""
    labelled: dict[tuple[str, float, float], int] = {}
    for f in findings:
        first = True
        for e in f.evidence[:3]:
            ax = panels.get(_PANEL_OF.get(e.series or "", ""))
            if ax is None or e.step is None or e.value is None or not math.isfinite(e.value):
                continue
            low, high = ax.get_ylim()
            if not low <= e.value <= high:
                continue
            ax.plot([e.step], [e.value], "x", color=_COLOURS[f.severity], ms=8, mew=2)
            if first:
                first = False
                key = (e.series or "", e.step, e.value)
                stack = labelled.get(key, 0)
                labelled[key] = stack + 1
                ax.annotate(
                    f.kind,
                    (e.step, e.value),
                    fontsize=8,
                    color=_COLOURS[f.severity],
                    xytext=(-6, 8 + 11 * stack),
                    textcoords="offset points",
                    ha="right",
                    annotation_clip=True,
                )


def figure(curves: Curves, findings: list[Finding], best: Best | None, *, title: str) -> Any:
    """The matplotlib figure (the caller closes it)."""
    plt = _pyplot()
    lr, gn = curves.get("learning_rate").finite(), curves.get("grad_norm").finite()
    panels_n = 1 + (len(lr) > 0) + (len(gn) > 0)
    fig, axes = plt.subplots(
        panels_n,
        1,
        figsize=(9, 3 + 1.8 * (panels_n - 1)),
        sharex=True,
        gridspec_kw={"height_ratios": [3] + [1.3] * (panels_n - 1)},
    )
    axes = list(axes) if panels_n > 1 else [axes]
    panels = {"loss": axes[0]}
    _loss_panel(axes[0], curves, best)
    axes[0].set_title(title, fontsize=10)
    i = 1
    if len(lr):
        axes[i].plot(lr.steps, lr.values, color="#6a1b9a", lw=1.2)
        axes[i].set_ylabel("learning rate", fontsize=8)
        axes[i].grid(alpha=0.3)
        panels["learning_rate"] = axes[i]
        i += 1
    if len(gn):
        axes[i].plot(gn.steps, gn.values, color="#00838f", lw=1)
        axes[i].set_ylabel("grad norm", fontsize=8)
        if max(gn.values) > 50 * max(min(gn.values), 1e-12) and min(gn.values) > 0:
            axes[i].set_yscale("log")
        axes[i].grid(alpha=0.3)
        panels["grad_norm"] = axes[i]
    limits = {name: ax.get_ylim() for name, ax in panels.items()}
    for ax in axes:
        ax.set_autoscale_on(False)
    _mark(panels, findings)
    for name, ax in panels.items():
        ax.set_ylim(limits[name])
    axes[-1].set_xlabel("step")
    fig.tight_layout()
    return fig


def draw(curves: Curves, findings: list[Finding], best: Best | None, path: Path, *, title: str) -> None:
    plt = _pyplot()
    fig = figure(curves, findings, best, title=title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    write_bytes_atomic(path, buf.getvalue())
