"""The report's figures, saved as PNG: rliable's own plots and a few plain matplotlib ones."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["bar_stack", "heatmap", "interval_plot", "poi_plot", "profile_plot"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return path


def interval_plot(points: dict[str, np.ndarray], intervals: dict[str, np.ndarray], names: Sequence[str],
                  path: Path, xlabel: str = "Success (the env's final judgement)") -> Path:
    """rliable's ``plot_interval_estimates`` (aggregates with stratified bootstrap 95% CIs)."""
    _plt()
    from rliable import plot_utils

    fig, _ = plot_utils.plot_interval_estimates(points, intervals, metric_names=list(names),
                                                algorithms=sorted(points), xlabel=xlabel, xlabel_y_coordinate=-0.35,
                                                wspace=0.3, row_height=0.6)
    return _save(fig, path)


def profile_plot(taus: np.ndarray, profiles: dict[str, np.ndarray], cis: dict[str, np.ndarray], path: Path) -> Path:
    """rliable's ``plot_performance_profiles`` (score distributions with 95% CIs)."""
    plt = _plt()
    from rliable import plot_utils

    fig, ax = plt.subplots(figsize=(7, 4))
    plot_utils.plot_performance_profiles(profiles, taus, performance_profile_cis=cis, ax=ax,
                                         xlabel=r"Success ($\tau$)",
                                         ylabel=r"Fraction of (run, task) scores $> \tau$")
    ax.legend(loc="lower left", fontsize="small")
    return _save(fig, path)


def poi_plot(points: dict[str, np.ndarray], intervals: dict[str, np.ndarray], path: Path) -> Path:
    """rliable's ``plot_probability_of_improvement``."""
    plt = _plt()
    from rliable import plot_utils

    fig, ax = plt.subplots(figsize=(5, 0.5 + 0.5 * len(points)))
    plot_utils.plot_probability_of_improvement(points, intervals, ax=ax)
    return _save(fig, path)


def bar_stack(rows: Sequence[str], parts: Sequence[str], values: np.ndarray, path: Path, xlabel: str,
              title: str) -> Path:
    """Horizontal stacked bars: one bar per row, one colour per part (``values``: rows x parts)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 0.9 + 0.45 * len(rows)))
    left = np.zeros(len(rows))
    colours = plt.get_cmap("tab10")
    for j, part in enumerate(parts):
        ax.barh(range(len(rows)), values[:, j], left=left, label=part, color=colours(j % 10))
        left += values[:, j]
    ax.set_yticks(range(len(rows)), list(rows), fontsize="small")
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25 - 0.1 / max(1, len(rows))), ncol=min(len(parts), 6),
              fontsize="small")
    return _save(fig, path)


def heatmap(rows: Sequence[str], cols: Sequence[str], values: np.ndarray, path: Path, title: str) -> Path:
    """Pass rate per (agent, task): rows x cols in [0, 1], NaN shown blank."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(min(18, 2 + 0.22 * len(cols)), 1.2 + 0.4 * len(rows)))
    im = ax.imshow(np.ma.masked_invalid(values), vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_yticks(range(len(rows)), list(rows), fontsize="small")
    ax.set_xticks(range(len(cols)), list(cols), rotation=90, fontsize=6)
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.03, label="pass rate")
    return _save(fig, path)
