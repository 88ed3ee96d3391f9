"""Uploads over the real SDK against the emulator: dedup by content hash, processing wait, service errors."""
from __future__ import annotations

import shutil

import pytest

from pipeline.errors import ServiceError, UsageError
from pipeline.files import content_hash, delete_file, upload_file, uploaded_name
from tests.pipeline.emulated import write_bad_dataset


def test_name_carries_the_content_hash(tmp_path, datasets_dir) -> None:
    copy = tmp_path / "training_set.jsonl"
    shutil.copy(datasets_dir / "training_set.jsonl", copy)
    name = uploaded_name(copy)
    assert name == f"training_set.{content_hash(copy)[:12]}.jsonl"
    copy.write_text(copy.read_text() + "\n")
    assert uploaded_name(copy) != name


def test_second_upload_of_same_content_is_skipped(client, datasets_dir, tmp_path) -> None:
    first = upload_file(client, datasets_dir / "training_set.jsonl", poll_interval=0.05)
    assert not first.reused and first.file.status == "processed"
    # same bytes under another path: still the same upload
    copy = tmp_path / "training_set.jsonl"
    shutil.copy(datasets_dir / "training_set.jsonl", copy)
    second = upload_file(client, copy, poll_interval=0.05)
    assert second.reused and second.file.id == first.file.id
    assert [f.id for f in client.files.list(purpose="fine-tune")] == [first.file.id]


def test_changed_content_is_uploaded_again(client, datasets_dir, tmp_path) -> None:
    copy = tmp_path / "training_set.jsonl"
    shutil.copy(datasets_dir / "training_set.jsonl", copy)
    first = upload_file(client, copy, poll_interval=0.05).file
    lines = copy.read_text(encoding="utf-8").splitlines()
    copy.write_text("\n".join(lines[1:]) + "\n", encoding="utf-8")
    second = upload_file(client, copy, poll_interval=0.05).file
    assert second.id != first.id


def test_rejected_file_raises_with_the_service_message(client, tmp_path) -> None:
    bad = write_bad_dataset(tmp_path / "bad.jsonl")
    with pytest.raises(ServiceError) as exc:
        upload_file(client, bad, poll_interval=0.05)
    (stored,) = [f for f in client.files.list() if f.filename.startswith("bad.")]
    assert stored.status == "error" and stored.status_details
    assert stored.status_details in exc.value.message
    assert "aoai-ft validate" in exc.value.hint


def test_missing_file_is_a_usage_error(client, tmp_path) -> None:
    with pytest.raises(UsageError):
        upload_file(client, tmp_path / "nope.jsonl")


def test_delete_tolerates_404(client, datasets_dir) -> None:
    file = upload_file(client, datasets_dir / "validation_set.jsonl", poll_interval=0.05).file
    assert delete_file(client, file.id) is True
    assert delete_file(client, file.id) is False


def test_content_hash_reads_an_unchanged_file_once_and_a_changed_one_again(tmp_path, monkeypatch) -> None:
    import hashlib
    import os

    from pipeline.hashing import content_hash

    path = tmp_path / "data.jsonl"
    path.write_text('{"a": 1}\n')
    reads: list[object] = []
    real = hashlib.file_digest
    monkeypatch.setattr(hashlib, "file_digest", lambda fh, name: (reads.append(fh), real(fh, name))[1])
    first = content_hash(path)
    assert content_hash(path) == first and len(reads) == 1
    path.write_text('{"a": 2}\n')
    os.utime(path, ns=(1, 1))  # a different modification time, whatever the clock's resolution
    changed = content_hash(path)
    assert changed != first and len(reads) == 2
    assert changed == hashlib.sha256(path.read_bytes()).hexdigest()
