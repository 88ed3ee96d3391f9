"""Validation reports reused by content: same bytes, model, epochs and rules cost one hash; anything else
validates again, and a broken cache is only a miss."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.dataset import ReportCache, validate_files
from pipeline.dataset import validate as validate_module
from pipeline.dataset.cache import CACHE_DIR_ENV, default_cache_dir


@pytest.fixture
def files(tmp_path: Path, datasets_dir: Path) -> list[Path]:
    return [Path(shutil.copy(datasets_dir / f"{kind}_set.jsonl", tmp_path)) for kind in ("training", "validation")]


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every file that was really validated (not served from the cache)."""
    seen: list[Path] = []
    real = validate_module.file_report_data  # what validate_file and validate_files validate a file with

    def spy(path, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(Path(path))
        return real(path, **kwargs)

    monkeypatch.setattr(validate_module, "file_report_data", spy)
    return seen


def test_an_unchanged_file_is_validated_once(files: list[Path], tmp_path: Path, validations: list[Path]) -> None:
    cache = ReportCache(tmp_path / "cache")
    first = validate_files(files, cache=cache)
    second = validate_files(files, cache=cache)
    assert validations == files  # the second run validated nothing
    assert [f.from_cache for f in first.files] == [False, False] and [f.from_cache for f in second.files] == [True, True]
    assert second.model_dump() == first.model_dump()  # same report, estimate priced again
    assert "from_cache" not in second.model_dump_json()


def test_content_model_and_epochs_are_part_of_the_key(files: list[Path], tmp_path: Path,
                                                      validations: list[Path]) -> None:
    cache = ReportCache(tmp_path / "cache")
    validate_files(files[:1], cache=cache)
    validate_files(files[:1], cache=cache, model="gpt-4.1-mini-2025-04-14")
    validate_files(files[:1], cache=cache, n_epochs=4)
    files[0].write_text(files[0].read_text() + files[0].read_text().splitlines()[0] + "\n")
    changed = validate_files(files[:1], cache=cache)
    assert len(validations) == 4 and not changed.files[0].from_cache
    assert changed.files[0].examples == validate_files(files[:1]).files[0].examples


def test_a_moved_file_reuses_the_report_under_its_new_path(files: list[Path], tmp_path: Path) -> None:
    cache = ReportCache(tmp_path / "cache")
    validate_files(files[:1], cache=cache)
    moved = tmp_path / "elsewhere" / "train.jsonl"
    moved.parent.mkdir()
    shutil.copy(files[0], moved)
    again = validate_files([moved], cache=cache)
    assert again.files[0].from_cache and again.files[0].path == str(moved)


def test_a_corrupt_or_unwritable_cache_only_means_validating_again(files: list[Path], tmp_path: Path,
                                                                   validations: list[Path]) -> None:
    cache = ReportCache(tmp_path / "cache")
    validate_files(files[:1], cache=cache)
    for entry in (tmp_path / "cache").iterdir():
        entry.write_text("{not json")
    assert not validate_files(files[:1], cache=cache).files[0].from_cache

    blocked = tmp_path / "a-file"
    blocked.write_text("")
    report = validate_files(files[:1], cache=ReportCache(blocked / "cache"))  # cannot mkdir under a file
    assert report.ok and len(validations) == 3


def test_an_invalid_file_is_cached_as_invalid(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}]}\nnot json\n')
    cache = ReportCache(tmp_path / "cache")
    first, second = validate_files([bad], cache=cache), validate_files([bad], cache=cache)
    assert not first.ok and not second.ok and second.files[0].from_cache
    assert second.files[0].error_counts == first.files[0].error_counts


def test_the_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine"
    monkeypatch.delenv(CACHE_DIR_ENV)
    assert "aoai-finetune" in str(default_cache_dir())
