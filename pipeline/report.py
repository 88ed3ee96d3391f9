"""After training: loss curves from the job's results file (and, for a DPO job, its reward accuracy and margin),
final metrics, and base vs fine-tuned answers.

The results CSV's shape varies between service versions: the validation accuracy column is spelled either
`valid_mean_token_accuracy` or `validation_mean_token_accuracy`, `valid_*`/`full_*` cells are often empty, and
some services have served the file base64-encoded. The parser accepts all of these.
"""
from __future__ import annotations

import base64
import binascii
import csv
import io
import json
from pathlib import Path

import openai
from pydantic import BaseModel

from pipeline.chat import ask
from pipeline.clients import service_errors
from pipeline.errors import PipelineError, ServiceError, UsageError, not_utf8

_ALIASES = {"validation_mean_token_accuracy": "valid_mean_token_accuracy",
            "validation_loss": "valid_loss"}


class _Metrics(BaseModel):
    """The results file's metric columns (None where a step did not report one)."""

    train_loss: float | None = None
    train_mean_token_accuracy: float | None = None
    valid_loss: float | None = None
    valid_mean_token_accuracy: float | None = None
    full_valid_loss: float | None = None
    full_valid_mean_token_accuracy: float | None = None
    # a DPO job's preference figures: how often, and by how much, the preferred reply wins
    train_reward_accuracy: float | None = None
    train_reward_margin: float | None = None
    valid_reward_accuracy: float | None = None
    valid_reward_margin: float | None = None
    full_valid_reward_accuracy: float | None = None
    full_valid_reward_margin: float | None = None


PREFERENCE_METRICS = tuple(name for name in _Metrics.model_fields if "reward" in name)


class MetricRow(_Metrics):
    step: int


class FinalMetrics(_Metrics):
    """The last reported value of each metric (None if never reported)."""

    steps: int


class AnswerPair(BaseModel):
    question: str
    base: str
    fine_tuned: str


class ReportFiles(BaseModel):
    directory: Path
    loss_png: Path
    metrics_json: Path
    markdown: Path


def _decode(content: str | bytes) -> str:
    """Text of the CSV, undoing base64 when the content is not CSV but decodes to one."""
    text = content.decode("utf-8-sig") if isinstance(content, bytes) else content.lstrip("\ufeff")
    if text.lstrip().lower().startswith("step"):
        return text
    try:
        decoded = base64.b64decode("".join(text.split()), validate=True).decode("utf-8-sig")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return text
    return decoded if decoded.lstrip().lower().startswith("step") else text


def parse_results_csv(content: str | bytes) -> list[MetricRow]:
    """Rows of a fine-tuning results file, sorted by step."""
    text = _decode(content)
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "step" not in [f.strip() for f in reader.fieldnames]:
        raise ServiceError("the results file has no 'step' column",
                           hint="it should be the job's result_files[0] (purpose fine-tune-results)")
    rows: list[MetricRow] = []
    for raw in reader:
        values: dict[str, object] = {}
        for key, cell in raw.items():
            if key is None or cell is None:
                continue
            name = _ALIASES.get(key.strip(), key.strip())
            if name in MetricRow.model_fields and cell.strip() not in ("", "nan", "NaN", "None"):
                values[name] = cell.strip()
        if "step" in values:
            values["step"] = int(float(str(values["step"])))
            rows.append(MetricRow.model_validate(values))
    return sorted(rows, key=lambda r: r.step)


def shown_metrics(final: FinalMetrics) -> dict[str, float | int | None]:
    """The final metrics to show: every chat metric, the preference (DPO) ones only when the job reported them."""
    return {name: value for name, value in final.model_dump().items()
            if value is not None or name not in PREFERENCE_METRICS}


def final_metrics(rows: list[MetricRow]) -> FinalMetrics:
    last: dict[str, float] = {}
    for row in rows:
        for name, value in row.model_dump(exclude={"step"}).items():
            if value is not None:
                last[name] = value
    return FinalMetrics(steps=rows[-1].step if rows else 0, **last)


def plot_losses(rows: list[MetricRow], png_path: Path | str, *, title: str = "Fine-tuning loss") -> Path:
    """Train and validation loss per step as a PNG (matplotlib's Agg backend: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    if not rows:
        raise PipelineError("no metrics to plot", hint="the job's results file is empty; did the job succeed?")
    png_path = Path(png_path)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    preference = is_preference(rows)
    fig = Figure(figsize=(8, 8 if preference else 4.5), dpi=100)
    axes = fig.subplots(2, 1, sharex=True) if preference else [fig.subplots()]
    _plot(axes[0], rows, (("train_loss", "train loss"), ("valid_loss", "validation loss"),
                          ("full_valid_loss", "full validation loss")), ylabel="loss", title=title)
    if preference:  # DPO: the preferred reply's win rate and margin over the non-preferred one
        _plot(axes[1], rows, (("train_reward_accuracy", "train reward accuracy"),
                              ("valid_reward_accuracy", "validation reward accuracy"),
                              ("train_reward_margin", "train reward margin"),
                              ("valid_reward_margin", "validation reward margin")),
              ylabel="reward accuracy / margin", title="Preference (DPO): preferred vs non-preferred reply")
    axes[-1].set_xlabel("step")
    fig.tight_layout()
    fig.savefig(png_path, format="png")
    return png_path


def is_preference(rows: list[MetricRow]) -> bool:
    """Whether the rows are a DPO job's (they report reward accuracy/margin)."""
    return any(getattr(row, name) is not None for row in rows for name in PREFERENCE_METRICS)


def _plot(ax: object, rows: list[MetricRow], series: tuple[tuple[str, str], ...], *, ylabel: str, title: str) -> None:
    for attr, label in series:
        points = [(r.step, getattr(r, attr)) for r in rows if getattr(r, attr) is not None]
        if points:
            xs, ys = zip(*points)
            full = attr.startswith("full_")
            ax.plot(xs, ys, label=label, marker="o" if full else None, linestyle="" if full else "-")  # type: ignore[attr-defined]
    ax.set_ylabel(ylabel)  # type: ignore[attr-defined]
    ax.set_title(title)  # type: ignore[attr-defined]
    ax.grid(alpha=0.3)  # type: ignore[attr-defined]
    ax.legend()  # type: ignore[attr-defined]


def fetch_results(client: openai.AzureOpenAI, job_id: str) -> list[MetricRow]:
    """Download and parse the results file of a finished job."""
    with service_errors(f"reading job {job_id}"):
        job = client.fine_tuning.jobs.retrieve(job_id)
    if not job.result_files:
        raise PipelineError(f"job {job_id} has no results file yet (status {job.status})",
                            hint=f"wait for it to succeed: `aoai-ft status {job_id}`")
    with service_errors(f"downloading results file {job.result_files[0]}"):
        content = client.files.content(job.result_files[0]).read()
    return parse_results_csv(content)


def validation_questions(path: Path | str, *, limit: int | None = None) -> list[str]:
    """The last user message of each example in a chat JSONL file."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"no such file: {path}", hint="pass the validation .jsonl file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}", hint="check the file's permissions") from None
    except UnicodeDecodeError as exc:
        raise not_utf8(str(path), exc, hint=f"pass the validation .jsonl file, saved as UTF-8 (`aoai-ft validate "
                                            f"{path}` shows more)") from None
    questions: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            example = json.loads(line)
            messages = example["input"]["messages"] if "input" in example else example["messages"]  # DPO or chat
        except (json.JSONDecodeError, KeyError, TypeError):
            raise UsageError(f"{path}:{number}: not a chat example",
                             hint=f"check it with `aoai-ft validate {path}`") from None
        users = [m.get("content") for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        if users and isinstance(users[-1], str):
            questions.append(users[-1])
        if limit is not None and len(questions) >= limit:
            break
    return questions


def compare_answers(client: openai.AzureOpenAI, base_deployment: str, ft_deployment: str,
                    questions: list[str], *, few_shot: bool = False) -> list[AnswerPair]:
    """Each question asked to the base and the fine-tuned deployment (with the teacher system message)."""
    return [AnswerPair(question=q, base=ask(client, base_deployment, q, few_shot=few_shot),
                       fine_tuned=ask(client, ft_deployment, q, few_shot=few_shot)) for q in questions]


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def write_report(out_dir: Path | str, *, job_id: str, rows: list[MetricRow],
                 comparisons: list[AnswerPair] | None = None, fine_tuned_model: str | None = None) -> ReportFiles:
    """`loss.png`, `metrics.json` and `report.md` (metrics table + side-by-side answers) in `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    png = plot_losses(rows, out / "loss.png", title=f"Fine-tuning loss ({job_id})")
    final = final_metrics(rows)
    metrics_json = out / "metrics.json"
    metrics_json.write_text(json.dumps({
        "job_id": job_id, "fine_tuned_model": fine_tuned_model, "final": final.model_dump(),
        "rows": [r.model_dump() for r in rows],
        "comparisons": [c.model_dump() for c in comparisons or []],
    }, indent=2), encoding="utf-8")
    lines = [f"# Fine-tuning report: {job_id}", ""]
    if fine_tuned_model:
        lines += [f"Model: `{fine_tuned_model}`", ""]
    lines += ["![loss curves](loss.png)", "", "| metric | final value |", "|---|---|"]
    lines += [f"| {name} | {_fmt(value) if name != 'steps' else f'{value:,}'} |"
              for name, value in shown_metrics(final).items()]
    if comparisons:
        lines += ["", "## Base vs fine-tuned", "", "| question | base | fine-tuned |", "|---|---|---|"]
        cell = lambda s: s.replace("|", "\\|").replace("\n", " ")  # noqa: E731
        lines += [f"| {cell(c.question)} | {cell(c.base)} | {cell(c.fine_tuned)} |" for c in comparisons]
    markdown = out / "report.md"
    markdown.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ReportFiles(directory=out, loss_png=png, metrics_json=metrics_json, markdown=markdown)
