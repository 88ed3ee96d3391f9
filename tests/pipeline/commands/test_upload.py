"""`aoai-ft upload` through click: second upload skipped, a rejected file fails with the service's message."""
from __future__ import annotations

from tests.pipeline.emulated import emulator_env, fast_emulator, invoke, make_client, run_main, write_bad_dataset  # noqa: F401


def test_upload_twice_skips_the_second(fast_emulator, datasets_dir) -> None:
    args = ["upload", str(datasets_dir / "training_set.jsonl"), str(datasets_dir / "validation_set.jsonl"),
            "--poll-interval", "0.05"]
    first = invoke(fast_emulator, args)
    assert first.exit_code == 0, first.output
    assert first.output.count(": uploaded as file-") == 2
    second = invoke(fast_emulator, args)
    assert second.exit_code == 0, second.output
    assert second.output.count(": already uploaded as file-") == 2
    assert len(list(make_client(fast_emulator).files.list())) == 2


def test_bad_file_fails_with_service_message(fast_emulator, tmp_path, capsys, monkeypatch) -> None:
    for key, value in emulator_env(fast_emulator).items():
        monkeypatch.setenv(key, value)
    bad = write_bad_dataset(tmp_path / "bad.jsonl")
    code, out, err = run_main(["upload", str(bad), "--poll-interval", "0.05"], capsys)
    (stored,) = list(make_client(fast_emulator).files.list())
    assert code == 1
    assert "was rejected by the service" in err and stored.status_details in err.replace("\n", "")
    assert "hint: fix the file" in err


def test_no_endpoint_is_a_usage_error(capsys, datasets_dir) -> None:
    code, _, err = run_main(["upload", str(datasets_dir / "training_set.jsonl")], capsys)
    assert code == 2 and "no Azure OpenAI endpoint" in err and "AZURE_OPENAI_ENDPOINT" in err
