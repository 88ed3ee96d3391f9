"""An evaluation's results for people and machines: side-by-side table, JSON, a PNG, and the answers as JSONL."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from pipeline.evals.runner import EvalReport


def report_table(report: EvalReport) -> Table:
    """One column per deployment: pass rate, counts, each criterion's pass rate, mean score, the run."""
    table = Table(title=f"evaluation {report.eval_name} ({report.eval_id}) on {Path(report.dataset).name}")
    table.add_column("")
    for result in report.results:
        table.add_column(result.deployment, justify="right")
    rows: list[tuple[str, list[str]]] = [
        ("pass rate", [f"{r.pass_rate:.0%}" for r in report.results]),
        ("passed / total", [f"{r.passed:,} / {r.total:,}" for r in report.results]),
        ("errored", [f"{r.errored:,}" for r in report.results]),
    ]
    for name in report.criteria:
        rows.append((f"  {name}", [f"{r.per_criterion.get(name, 0.0):.0%}" for r in report.results]))
    rows.append(("mean score", [f"{np.mean(r.mean_scores):.2f}" if r.mean_scores else "-" for r in report.results]))
    rows.append(("run", [f"{r.run_id}{' (adopted)' if r.adopted else ''}" for r in report.results]))
    for label, cells in rows:
        table.add_row(label, *cells)
    return table


def print_report(report: EvalReport, console: Console) -> None:
    console.print(report_table(report))


def report_json(report: EvalReport) -> dict[str, Any]:
    """Everything but the items (see `write_answers`), pass rates included."""
    return {
        "eval_id": report.eval_id, "eval_name": report.eval_name, "dataset": report.dataset,
        "criteria": list(report.criteria),
        "results": [{
            "deployment": r.deployment, "model": r.model, "run_id": r.run_id, "status": r.status,
            "adopted": r.adopted, "pass_rate": round(r.pass_rate, 4), "total": r.total, "passed": r.passed,
            "failed": r.failed, "errored": r.errored,
            "per_criterion": {k: round(v, 4) for k, v in r.per_criterion.items()},
            "mean_score": round(float(np.mean(r.mean_scores)), 4) if r.mean_scores else None,
            "report_url": r.report_url,
        } for r in report.results],
    }


def write_answers(report: EvalReport, path: Path) -> Path:
    """One JSON line per (deployment, item): question, reference, answer, status, scores."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for result in report.results:
            for item in result.items:
                handle.write(json.dumps({"deployment": result.deployment, "run_id": result.run_id,
                                         **item.model_dump()}, ensure_ascii=False) + "\n")
    return path


def write_png(report: EvalReport, path: Path) -> Path:
    """Pass rate per deployment (bars) beside each deployment's distribution of item scores (box + points)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r.deployment for r in report.results]
    fig, (left, right) = plt.subplots(1, 2, figsize=(max(8, 2.2 * len(names) + 4), 4.2))
    rates = [r.pass_rate * 100 for r in report.results]
    bars = left.bar(names, rates, color=["#2b7bba" if i == 0 else "#9bbad6" for i in range(len(names))])
    left.bar_label(bars, labels=[f"{v:.0f}%" for v in rates])
    left.set_ylim(0, 105)
    left.set_ylabel("items passing every criterion (%)")
    left.set_title("pass rate")
    scores = [r.mean_scores or [0.0] for r in report.results]
    right.boxplot(scores, tick_labels=names, showmeans=True, showfliers=False)  # every point is drawn below
    rng = np.random.default_rng(0)
    for position, values in enumerate(scores, start=1):
        right.scatter(position + rng.uniform(-0.12, 0.12, len(values)), values, s=12, alpha=0.6, color="#444")
    right.set_ylim(-0.05, 1.05)
    right.set_ylabel("mean grader score per item")
    right.set_title("score distribution")
    for axis in (left, right):
        axis.tick_params(axis="x", labelrotation=15)
    fig.suptitle(f"{report.eval_name}: {Path(report.dataset).name}, criteria {', '.join(report.criteria)}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
