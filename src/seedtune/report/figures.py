"""matplotlib figures as PNG bytes (Agg backend, no display needed): grouped bars with error bars,
and signed delta bars. Both take plain lists, so any stage can plot its numbers."""

from __future__ import annotations

import io
from collections.abc import Sequence

# A colour-blind-safe palette (Okabe & Ito 2008, "Color Universal Design").
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
GOOD, BAD = "#1a7f37", "#cf222e"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=130, bbox_inches="tight")
    _pyplot().close(fig)
    return buf.getvalue()


def _style(ax, title: str, ylabel: str) -> None:
    ax.set_title(title, fontsize=11, loc="left")
    ax.set_ylabel(ylabel, fontsize=9)
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=8)
    ax.grid(axis="y", color="#e5e5e5", linewidth=0.8)
    ax.set_axisbelow(True)


def grouped_bars(groups: Sequence[str], series: dict[str, Sequence[float | None]], *, title: str = "",
                 ylabel: str = "score", errors: dict[str, Sequence[tuple[float, float] | None]] | None = None,
                 ylim: tuple[float, float] | None = (0.0, 1.0)) -> bytes:
    """One cluster of bars per group (e.g. category), one bar per series (e.g. model);
    `errors[name][i]` = (low, high) draws a confidence interval."""
    plt = _pyplot()
    n = max(1, len(series))
    width = 0.8 / n
    # One width for every figure, so figures in a report share one scale on the page.
    fig, ax = plt.subplots(figsize=(11.0 if len(groups) > 4 else 7.0, 3.6))
    for s, (name, values) in enumerate(series.items()):
        xs = [g + (s - (n - 1) / 2) * width for g in range(len(groups))]
        ys = [v if v is not None else 0.0 for v in values]
        yerr = None
        if errors and name in errors:
            lo = [max(0.0, y - (e[0] if e else y)) for y, e in zip(ys, errors[name])]
            hi = [max(0.0, (e[1] if e else y) - y) for y, e in zip(ys, errors[name])]
            yerr = [lo, hi]
        ax.bar(xs, ys, width=width * 0.95, label=name, color=PALETTE[s % len(PALETTE)], yerr=yerr,
               error_kw={"elinewidth": 0.8, "capsize": 2, "ecolor": "#444"})
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([g.replace("_", " ") for g in groups], rotation=30 if len(groups) > 5 else 0, ha="right" if len(groups) > 5 else "center")
    if ylim:
        ax.set_ylim(*ylim)
    else:
        ax.axhline(0, color="#333", linewidth=0.8)
    _style(ax, title, ylabel)
    if len(series) > 1:
        ax.legend(fontsize=8, frameon=False, ncol=min(4, len(series)), loc="upper left", bbox_to_anchor=(0, -0.22 if len(groups) > 5 else -0.1))
    return _png(fig)


def delta_bars(groups: Sequence[str], deltas: Sequence[float], *, cis: Sequence[tuple[float, float]] | None = None,
               title: str = "", ylabel: str = "difference") -> bytes:
    """Signed differences per group, green above zero and red below, with CI whiskers."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(11.0 if len(groups) > 4 else 7.0, 3.6))
    colors = [GOOD if d >= 0 else BAD for d in deltas]
    yerr = None
    if cis:
        yerr = [[max(0.0, d - lo) for d, (lo, _) in zip(deltas, cis)], [max(0.0, hi - d) for d, (_, hi) in zip(deltas, cis)]]
    ax.bar(range(len(groups)), deltas, color=colors, yerr=yerr, error_kw={"elinewidth": 0.8, "capsize": 2, "ecolor": "#444"})
    ax.axhline(0, color="#333", linewidth=0.8)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([g.replace("_", " ") for g in groups], rotation=30 if len(groups) > 5 else 0, ha="right" if len(groups) > 5 else "center")
    _style(ax, title, ylabel)
    return _png(fig)
