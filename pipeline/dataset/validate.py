"""Validate chat fine-tuning JSONL files: the library behind `aoai-ft validate`, the emulator's file
processing and the Pulumi program's pre-flight check.

A large file is scanned on every core: line-aligned chunks taken on demand by this process and forked workers
(pipeline.dataset.parallel; the tokenizer is shared copy-on-write). Small files, or platforms without fork, are
scanned in one pass. Either way the file is streamed: memory does not grow with its size.
"""
from __future__ import annotations

import importlib
import os
import shutil
import stat as stat_module
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.dataset.billing import MAX_N_EPOCHS, billed_tokens, default_epochs
from pipeline.dataset.checks import ScanResult, scan_range
from pipeline.dataset.counting import get_counter
from pipeline.dataset.methods import check_method_and_model
from pipeline.dataset.models import DEFAULT_MODEL, model_info
from pipeline.dataset.parallel import scan_in_parallel, worker_count
from pipeline.errors import DatasetInvalid, UsageError

if TYPE_CHECKING:  # imported where used: see _REPORT_MODULES
    from pipeline.dataset.cache import ReportCache
    from pipeline.dataset.pricing import PriceTable
    from pipeline.dataset.report import FileReport, Problem, ValidationReport

MIN_EXAMPLES = 10
MAX_FILE_BYTES = 512 * 1024 * 1024
PARALLEL_MIN_BYTES = 4 * 1024 * 1024  # below this a fork costs more than it saves
# What a report needs besides the scan: pydantic and its models, numpy, a tenth of a second to import. A forked
# scan imports them in this process while its worker already scans, instead of before the scan starts or after
# it ends. numpy.ma: np.quantile imports it on first use (through np.unique).
_REPORT_MODULES = ("pipeline.dataset.report", "pipeline.dataset.pricing", "pipeline.dataset.stats",
                   "pipeline.dataset.preference_report", "numpy.ma")


def _import_report_modules() -> None:
    for name in _REPORT_MODULES:
        importlib.import_module(name)


def _check_path(path: Path) -> int:
    """The file's size; a missing/unreadable path is a usage error, not a validation error."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise UsageError(f"no such file: {path}", hint="pass the path of a JSONL file, e.g. datasets/training_set.jsonl") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    if path.is_dir():
        raise UsageError(f"{path} is a directory", hint="pass the JSONL files inside it")
    if not os.access(path, os.R_OK):
        raise UsageError(f"cannot read {path}: permission denied")
    return stat.st_size


@contextmanager
def seekable(path: Path) -> Iterator[Path]:
    """`path` itself when it is a regular file; for a pipe, `<(...)` or a device, a temporary copy (the scan
    seeks and splits the file). The copy stops one byte over the 512 MB upload limit, so it stays bounded and
    the size check still reports the file as too large."""
    if stat_module.S_ISREG(path.stat().st_mode):
        yield path
        return
    import tempfile

    with tempfile.NamedTemporaryFile(prefix="aoai-ft-", suffix=".jsonl") as copy:
        try:
            with open(path, "rb") as source:
                shutil.copyfileobj(_limited(source, MAX_FILE_BYTES + 1), copy)
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
        copy.flush()
        yield Path(copy.name)


class _limited:
    """A read-only view of the first `limit` bytes of a stream."""

    def __init__(self, stream: Any, limit: int) -> None:
        self.stream, self.left = stream, limit

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        size = self.left if size < 0 else min(size, self.left)
        data = self.stream.read(size)
        self.left -= len(data)
        return data


def scan_file(path: str | Path, *, model: str = DEFAULT_MODEL, parallel: bool | None = None) -> ScanResult:
    """Check and count every line of `path`; per-example counts are in `.totals` / `.assistants`.

    `parallel=None` forks for files of at least PARALLEL_MIN_BYTES, where fork exists and only while this
    process is single-threaded (forking a threaded process, e.g. the emulator's server, can deadlock): one
    worker per further core, and no more than one per 4 MB of file."""
    path = Path(path)
    size = _check_path(path)
    info = model_info(model)
    counter = get_counter(info.encoding)

    def scan(start: int, end: int, memo: dict[str, int] | None = None) -> ScanResult:
        return scan_range(str(path), start, end, counter, info.token_limit, memo=memo)

    if parallel is None:
        parallel = size >= PARALLEL_MIN_BYTES and threading.active_count() == 1
    workers = min(worker_count(), max(2, size // PARALLEL_MIN_BYTES))  # a worker per 4 MB at most
    if parallel and hasattr(os, "fork") and workers > 1:
        return scan_in_parallel(path, size, scan, workers, meanwhile=_import_report_modules)
    return scan(0, size)


def _problems(items: Iterable[tuple[int | None, str, str]]) -> list[Problem]:
    from pipeline.dataset.report import Problem

    return [Problem.model_construct(line=line, code=code, message=msg) for line, code, msg in items]


def validate_file(
    path: str | Path, *, model: str = DEFAULT_MODEL, n_epochs: int | None = None, parallel: bool | None = None,
    method: str | None = None,
) -> FileReport:
    """Validate one JSONL file; `FileReport.ok` is False when it has any error. Never raises on bad data;
    raises UsageError for a missing/unreadable path or an unknown model. `method` ("supervised": chat format,
    "dpo": preference pairs, checked by `pipeline.dataset.preference`) defaults to the file's format."""
    from pipeline.dataset import preference  # not preference_report: it imports the report's modules (see below)

    path = Path(path)
    info = model_info(model)
    if n_epochs is not None and not 1 <= n_epochs <= MAX_N_EPOCHS:
        raise UsageError(f"n_epochs must be between 1 and {MAX_N_EPOCHS}, got {n_epochs}")
    _check_path(path)
    with seekable(path) as readable:
        formats = preference.first_format(readable, method)
        if formats.method == "dpo":
            from pipeline.dataset import preference_report

            return preference_report.preference_report(path, readable, model=model, n_epochs=n_epochs, formats=formats)
        scan = scan_file(readable, model=model, parallel=parallel)
        size = readable.stat().st_size
        formats = preference.chat_formats(readable, scan.errors, formats)
    file_level: list[tuple[int | None, str, str]] = []
    if size > MAX_FILE_BYTES:
        file_level.append((None, "file_too_large", f"{size / 2**20:,.0f} MB, over the 512 MB upload limit; split the file"))
    if scan.examples < MIN_EXAMPLES:
        file_level.append((None, "too_few_examples", f"{scan.examples:,} example(s); fine-tuning needs at least {MIN_EXAMPLES:,}"))
    errors = file_level + scan.errors
    epochs = n_epochs or default_epochs(scan.examples)
    from pipeline.dataset.preference_report import chat_report_with_formats
    from pipeline.dataset.report import Billing, FileReport, TokenStats
    from pipeline.dataset.stats import distribution

    return chat_report_with_formats(FileReport(
        path=str(path),
        ok=not errors,
        examples=scan.examples,
        errors=_problems(errors),
        warnings=_problems(scan.warnings),
        error_counts=dict(Counter(code for _, code, _ in errors)),
        tokens=TokenStats(total=distribution(scan.totals), assistant=distribution(scan.assistants)),
        billing=Billing(epochs=epochs, billed_tokens=billed_tokens(scan.totals, info.token_limit, epochs)),
    ), formats)


def validate_files(
    paths: Iterable[str | Path],
    *,
    model: str = DEFAULT_MODEL,
    prices: PriceTable | None = None,
    n_epochs: int | None = None,
    parallel: bool | None = None,
    cache: ReportCache | None = None,
    method: str | None = None,
) -> ValidationReport:
    """Validate a training file and any validation files; the estimate prices training on the first one.

    With a `cache`, a file whose bytes, model, epochs and rules were validated before costs one hash
    (`FileReport.from_cache` says which); the estimate is always priced anew.
    """
    model = check_method_and_model(method, model)  # a fine-tuned model (continued) is validated as its base model
    paths = list(paths)
    if not paths:
        raise UsageError("no files to validate", hint="pass a training JSONL file, then optional validation files")
    model_info(model)
    for path in paths:  # usage errors before any work
        _check_path(Path(path))
    files = [_validate_with(cache, Path(p), model=model, n_epochs=n_epochs, parallel=parallel, method=method)
             for p in paths]
    from pipeline.dataset.preference_report import check_model_supports

    files[0] = training = check_model_supports(files[0], model)
    ok = all(f.ok for f in files)
    from pipeline.dataset.pricing import default_prices, estimate_training_cost
    from pipeline.dataset.report import TrainingEstimate, ValidationReport

    if training.billing.billed_tokens == 0:  # a $0.00 "estimate" would read as "training is free"
        what = "it holds no examples" if training.examples == 0 else "none of its lines is a usable example"
        return ValidationReport(ok=ok, files=files, no_estimate=f"{training.path} has nothing to train on: {what}")
    cost = estimate_training_cost(training.billing.billed_tokens, model, prices or default_prices())
    estimate = TrainingEstimate(**cost.model_dump(), training_file=training.path, epochs=training.billing.epochs)
    return ValidationReport(ok=ok, files=files, estimate=estimate)


def _validate_with(cache: ReportCache | None, path: Path, *, model: str, n_epochs: int | None,
                   parallel: bool | None, method: str | None = None) -> FileReport:
    if cache is None or not stat_module.S_ISREG(path.stat().st_mode):  # a pipe can be read once only
        return validate_file(path, model=model, n_epochs=n_epochs, parallel=parallel, method=method)
    from pipeline.hashing import content_hash

    key = cache.key(content_hash(path), model=model, n_epochs=n_epochs, method=method)
    cached = cache.get(key, path)
    if cached is not None:
        return cached.model_copy(update={"from_cache": True})
    report = validate_file(path, model=model, n_epochs=n_epochs, parallel=parallel, method=method)
    cache.put(key, report)
    return report


def require_valid(report: ValidationReport) -> ValidationReport:
    """Return `report` if every file is valid, else raise DatasetInvalid (carrying the report) - for callers
    that must refuse to go on, like the Pulumi program and `aoai-ft upload`."""
    if report.ok:
        return report
    counts: Counter[str] = Counter()
    for file in report.files:
        counts.update(file.error_counts)
    bad = ", ".join(f.path for f in report.files if not f.ok)
    summary = ", ".join(f"{code} x{n}" for code, n in counts.most_common())
    raise DatasetInvalid(f"dataset has errors in {bad}: {summary}", report=report,
                         hint=f"run `aoai-ft validate {' '.join(f.path for f in report.files)}` for lines and fixes")
