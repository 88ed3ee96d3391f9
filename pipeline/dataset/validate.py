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
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.dataset import report_data
from pipeline.dataset.billing import MAX_N_EPOCHS, billed_tokens, default_epochs
from pipeline.dataset.checks import ScanResult, scan_range
from pipeline.dataset.counting import get_counter
from pipeline.dataset.methods import check_method_and_model
from pipeline.dataset.models import DEFAULT_MODEL, model_info
from pipeline.dataset.parallel import scan_in_parallel, worker_count
from pipeline.dataset.price_list import cost_data
from pipeline.errors import DatasetInvalid, UsageError

if TYPE_CHECKING:  # imported where used: see REPORT_MODULES
    from pipeline.dataset.cache import ReportCache
    from pipeline.dataset.pricing import PriceTable
    from pipeline.dataset.report import FileReport, ValidationReport

MIN_EXAMPLES = 10
MAX_FILE_BYTES = 512 * 1024 * 1024
PARALLEL_MIN_BYTES = 4 * 1024 * 1024  # below this a fork costs more than it saves
# What a report needs besides the scan, imported by a forked scan in this process while its worker already scans,
# instead of before the scan starts or after it ends. The report as data needs numpy (numpy.ma: np.quantile imports
# it on first use, through np.unique); the pydantic report needs its models too, another tenth of a second.
DATA_REPORT_MODULES = ("numpy.ma",)
REPORT_MODULES = (*DATA_REPORT_MODULES, "pipeline.dataset.report", "pipeline.dataset.pricing")


def _importer(names: tuple[str, ...]) -> Callable[[], None] | None:
    """A function that imports `names`; None when there are none."""
    if not names:
        return None

    def import_all() -> None:
        for name in names:
            importlib.import_module(name)

    return import_all


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


def scan_file(path: str | Path, *, model: str = DEFAULT_MODEL, parallel: bool | None = None,
              preload: tuple[str, ...] = ()) -> ScanResult:
    """Check and count every line of `path`; per-example counts are in `.totals` / `.assistants`.

    `parallel=None` forks for files of at least PARALLEL_MIN_BYTES, where fork exists and only while this
    process is single-threaded (forking a threaded process, e.g. the emulator's server, can deadlock): one
    worker per further core, and no more than one per 4 MB of file. A forked scan imports the modules named in
    `preload` here while its worker scans."""
    path = Path(path)
    size = _check_path(path)
    info = model_info(model)
    counter = get_counter(info.encoding, text_bytes=size)

    def scan(start: int, end: int, memo: dict[str, int] | None = None) -> ScanResult:
        return scan_range(str(path), start, end, counter, info.token_limit, memo=memo)

    if parallel is None:
        parallel = size >= PARALLEL_MIN_BYTES and threading.active_count() == 1
    workers = min(worker_count(), max(2, size // PARALLEL_MIN_BYTES))  # a worker per 4 MB at most
    if parallel and hasattr(os, "fork") and workers > 1:
        return scan_in_parallel(path, size, scan, workers, meanwhile=_importer(preload))
    return scan(0, size)


def validate_file(
    path: str | Path, *, model: str = DEFAULT_MODEL, n_epochs: int | None = None, parallel: bool | None = None,
    method: str | None = None,
) -> FileReport:
    """Validate one JSONL file; `FileReport.ok` is False when it has any error. Never raises on bad data;
    raises UsageError for a missing/unreadable path or an unknown model. `method` ("supervised": chat format,
    "dpo": preference pairs, checked by `pipeline.dataset.preference`) defaults to the file's format."""
    data = file_report_data(path, model=model, n_epochs=n_epochs, parallel=parallel, method=method,
                            preload=REPORT_MODULES)
    from pipeline.dataset.report import FileReport

    return FileReport.model_validate(data)


def file_report_data(
    path: str | Path, *, model: str = DEFAULT_MODEL, n_epochs: int | None = None, parallel: bool | None = None,
    method: str | None = None, preload: tuple[str, ...] = DATA_REPORT_MODULES,
) -> dict[str, Any]:
    """`validate_file`'s report as plain data, in the shape of `FileReport.model_dump()` (pipeline.dataset.report_data);
    `preload` as for `scan_file`."""
    from pipeline.dataset import preference, preference_report  # both light: numpy waits for the statistics

    path = Path(path)
    info = model_info(model)
    if n_epochs is not None and not 1 <= n_epochs <= MAX_N_EPOCHS:
        raise UsageError(f"n_epochs must be between 1 and {MAX_N_EPOCHS}, got {n_epochs}")
    _check_path(path)
    with seekable(path) as readable:
        formats = preference.first_format(readable, method)
        if formats.method == "dpo":
            return preference_report.preference_report(path, readable, model=model, n_epochs=n_epochs, formats=formats)
        scan = scan_file(readable, model=model, parallel=parallel, preload=preload)
        size = readable.stat().st_size
        formats = preference.chat_formats(readable, scan.errors, formats)
    file_level: list[report_data.Found] = []
    if size > MAX_FILE_BYTES:
        file_level.append((None, "file_too_large", f"{size / 2**20:,.0f} MB, over the 512 MB upload limit; split the file"))
    if scan.examples < MIN_EXAMPLES:
        file_level.append((None, "too_few_examples", f"{scan.examples:,} example(s); fine-tuning needs at least {MIN_EXAMPLES:,}"))
    epochs = n_epochs or default_epochs(scan.examples)
    return report_data.file_report(
        str(path), method="supervised", examples=scan.examples,
        errors=preference_report.with_format_errors(file_level + scan.errors, formats), warnings=scan.warnings,
        tokens=report_data.token_stats(total=report_data.distribution(scan.totals),
                                       assistant=report_data.distribution(scan.assistants)),
        epochs=epochs, billed_tokens=billed_tokens(scan.totals, info.token_limit, epochs),
    )


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
    data = validation_report_data(paths, model=model, prices=prices, n_epochs=n_epochs, parallel=parallel,
                                  cache=cache, method=method, preload=REPORT_MODULES)
    from pipeline.dataset.report import ValidationReport

    return ValidationReport.model_validate(data)


def validation_report_data(
    paths: Iterable[str | Path],
    *,
    model: str = DEFAULT_MODEL,
    prices: PriceTable | None = None,
    n_epochs: int | None = None,
    parallel: bool | None = None,
    cache: ReportCache | None = None,
    method: str | None = None,
    preload: tuple[str, ...] = DATA_REPORT_MODULES,
) -> dict[str, Any]:
    """`validate_files`' report as plain data, in the shape of `ValidationReport.model_dump()` (a file reused from
    the cache has `"from_cache": True`). Without `prices` or `cache`, pydantic is never imported:
    `report_data.to_json` writes the `--json` output from it."""
    model = check_method_and_model(method, model)  # a fine-tuned model (continued) is validated as its base model
    paths = list(paths)
    if not paths:
        raise UsageError("no files to validate", hint="pass a training JSONL file, then optional validation files")
    model_info(model)
    for path in paths:  # usage errors before any work
        _check_path(Path(path))
    files = [_file_report_data_with(cache, Path(p), model=model, n_epochs=n_epochs, parallel=parallel,
                                    method=method, preload=preload)
             for p in paths]
    from pipeline.dataset.preference_report import check_model_supports

    files[0] = training = check_model_supports(files[0], model)
    ok = all(f["ok"] for f in files)
    billing = training["billing"]
    if billing["billed_tokens"] == 0:  # a $0.00 "estimate" would read as "training is free"
        what = "it holds no examples" if training["examples"] == 0 else "none of its lines is a usable example"
        return {"ok": ok, "files": files, "estimate": None,
                "no_estimate": f"{training['path']} has nothing to train on: {what}"}
    table = {} if prices is None else prices.model_dump()  # its fields are cost_data's table arguments
    estimate = {**cost_data(billing["billed_tokens"], model, **table), "training_file": training["path"],
                "epochs": billing["epochs"]}
    return {"ok": ok, "files": files, "estimate": estimate, "no_estimate": None}


def _file_report_data_with(cache: ReportCache | None, path: Path, *, model: str, n_epochs: int | None,
                           parallel: bool | None, method: str | None, preload: tuple[str, ...]) -> dict[str, Any]:
    if cache is None or not stat_module.S_ISREG(path.stat().st_mode):  # a pipe can be read once only
        return file_report_data(path, model=model, n_epochs=n_epochs, parallel=parallel, method=method, preload=preload)
    from pipeline.dataset.report import FileReport
    from pipeline.hashing import content_hash

    key = cache.key(content_hash(path), model=model, n_epochs=n_epochs, method=method)
    cached = cache.get(key, path)
    if cached is not None:
        return {**cached.model_dump(), "from_cache": True}
    data = file_report_data(path, model=model, n_epochs=n_epochs, parallel=parallel, method=method, preload=preload)
    cache.put(key, FileReport.model_validate(data))
    return data


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
