"""The charts of docs/PERFORMANCE.md, drawn with matplotlib from the figures of one benchmark run."""

from __future__ import annotations

from bench.harness import Bench, Chart

Series = dict[str, tuple[list[float], list[float]]]


def line_chart(
    bench: Bench,
    area: str,
    name: str,
    title: str,
    axes: tuple[str, str],
    series: Series,
    *,
    log: str = "",
    references: dict[str, float] | None = None,
) -> None:
    """One line per series, dashed lines for constant references; log is "", "x", "y" or "xy"."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    for label, (xs, ys) in series.items():
        ax.plot(xs, ys, marker="o", label=label)
    for label, y in (references or {}).items():
        ax.axhline(y, linestyle="--", color="grey", label=label)
    if "x" in log:
        ax.set_xscale("log")
    if "y" in log:
        ax.set_yscale("log")
    ax.set_xlabel(axes[0])
    ax.set_ylabel(axes[1])
    ax.set_title(f"{title} ({bench.size})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = bench.chart_path(name)
    fig.savefig(path)
    plt.close(fig)
    bench.charts.append(Chart(area, path.name, title))
