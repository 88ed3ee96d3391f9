"""`aoai-ft upload` through click: second upload skipped, a rejected file fails with the service's message."""
from __future__ import annotations

from tests.pipeline.emulated import emulator_env, invoke, make_client, run_main, write_bad_dataset


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


def test_waiting_for_processing_names_the_file_and_its_status(datasets_dir) -> None:
    """Off a terminal: one line per status change while the service processes the file, then the result."""
    from tests.pipeline.emulated import start

    emu = start(file_processing_seconds=1.5)
    try:
        result = invoke(emu, ["upload", str(datasets_dir / "training_set.jsonl"), "--poll-interval", "0.1"])
        (stored,) = list(make_client(emu).files.list())
    finally:
        emu.stop()
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    waiting = [line for line in lines if "waiting for the service to process it" in line]
    assert [line.split(" is ")[1].split(",")[0] for line in waiting] == ["pending", "running"], result.output
    assert all(stored.id in line for line in waiting)
    assert lines[-1].endswith(f"uploaded as {stored.id} ({stored.filename}, processed)")


def test_on_a_terminal_the_spinner_names_the_file_and_its_status() -> None:
    import io

    from openai.types import FileObject
    from rich.console import Console

    from pipeline.progress import FileProgressDisplay

    screen = io.StringIO()
    term = Console(file=screen, force_terminal=True, width=200)
    file = FileObject(id="file-0123", object="file", bytes=1, created_at=0, filename="t.jsonl",
                      purpose="fine-tune", status="uploaded")
    with FileProgressDisplay(term, "data[bold].jsonl") as show:  # brackets are text, not rich markup
        show(file)
        show.console.print("after the update")  # forces a refresh that shows the spinner's new text
    assert "data[bold].jsonl: file-0123 is uploaded, waiting for the service to process it" in screen.getvalue()
