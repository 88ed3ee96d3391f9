"""`aoai-ft train`: uploads paths, trains with progress lines, re-run adopts, Ctrl-C leaves the job running."""
from __future__ import annotations

import pytest

from pipeline.errors import PipelineError
from pipeline.jobs import JobStillRunning
from tests.pipeline.emulated import emulator_env, interrupt, invoke, make_client, run_main, start


def test_train_then_rerun_adopts(fast_emulator, datasets_dir) -> None:
    args = ["train", "-t", str(datasets_dir / "training_set.jsonl"), "-v", str(datasets_dir / "validation_set.jsonl"),
            "--suffix", "teacher", "--poll-interval", "0.1", "--timeout", "60"]
    first = invoke(fast_emulator, args)
    assert first.exit_code == 0, first.output
    assert "started job ftjob-" in first.output
    assert "running | step" in first.output and "train_loss" in first.output and "valid_loss" in first.output
    assert "succeeded: fine-tuned model gpt-4o-mini-2024-07-18.ft-" in first.output
    second = invoke(fast_emulator, args)
    assert second.exit_code == 0, second.output
    assert "already uploaded" in second.output and "adopted existing job" in second.output
    assert len(list(make_client(fast_emulator).fine_tuning.jobs.list())) == 1


def test_file_ids_detach_and_bad_settings(fast_emulator, datasets_dir) -> None:
    client = make_client(fast_emulator)
    with (datasets_dir / "training_set.jsonl").open("rb") as fh:
        file = client.files.create(file=("t.jsonl", fh), purpose="fine-tune")
    client.files.wait_for_processing(file.id, poll_interval=0.05)
    bad = invoke(fast_emulator, ["train", "-t", file.id, "--suffix", "no spaces allowed"])
    assert bad.exit_code == 2 and "Error: invalid training settings: suffix must be 1-40 characters" in bad.output
    missing = invoke(fast_emulator, ["train", "-t", "nowhere/train.jsonl"])
    assert missing.exit_code == 2 and "Error: no such file: nowhere/train.jsonl" in missing.output
    started = invoke(fast_emulator, ["train", "-t", file.id, "--detach"])
    assert started.exit_code == 0 and "aoai-ft status ftjob-" in started.output
    (job,) = client.fine_tuning.jobs.list()
    assert job.training_file == file.id and job.status in ("pending", "running")


def test_ctrl_c_leaves_the_job_running(tmp_path, datasets_dir) -> None:
    emu = start(training_seconds=30.0)
    try:
        client = make_client(emu)
        code, out, err = interrupt(["train", "-t", str(datasets_dir / "training_set.jsonl"), "--poll-interval", "0.1"],
                                   emulator_env(emu), ready=lambda: bool(list(client.fine_tuning.jobs.list())))
        (job,) = client.fine_tuning.jobs.list()
        assert code == 130, (out, err)
        assert client.fine_tuning.jobs.retrieve(job.id).status in ("pending", "running")
    finally:
        emu.stop()
    # a deliberate stop, not an error: what happened (the job goes on) and how to pick it up again
    assert "Error" not in err and "Traceback" not in err and "Aborted" not in err, err
    lines = err.strip().splitlines()
    assert lines[0] == f"Stopped waiting (Ctrl-C): fine-tuning job {job.id} is still running on the service.", err
    assert lines[1].startswith("  to go on: ") and f"aoai-ft status {job.id}" in lines[1] and "aoai-ft train" in lines[1]


def test_a_deadline_that_runs_out_is_still_an_error(datasets_dir, capsys, monkeypatch) -> None:
    """Only the Ctrl-C stop is told differently: --timeout running out stays an `Error:` line (exit 3)."""
    emu = start(training_seconds=30.0)
    try:
        for key, value in emulator_env(emu).items():
            monkeypatch.setenv(key, value)
        code, _, err = run_main(["train", "-t", str(datasets_dir / "training_set.jsonl"), "--poll-interval", "0.1",
                                 "--timeout", "1"], capsys)
    finally:
        emu.stop()
    assert code == 3 and err.startswith("Error: fine-tuning job ftjob-") and "(waited 1 s)" in err, err
    assert "  hint: follow it with `aoai-ft status ftjob-" in err
    assert PipelineError("x").interrupted is False
    assert JobStillRunning("ftjob-1", "running", "Ctrl-C", exit_code=130).interrupted is True


def test_poll_interval_also_paces_the_upload_check(fast_emulator, datasets_dir, monkeypatch) -> None:
    """`--poll-interval` is how often train looks at anything it waits for, the uploaded files' check included."""
    import pipeline.files

    intervals: list[float] = []
    wait_for_file = pipeline.files.wait_for_file

    def recording(*args, **kwargs):
        intervals.append(kwargs["poll_interval"])
        return wait_for_file(*args, **kwargs)

    monkeypatch.setattr(pipeline.files, "wait_for_file", recording)
    args = ["train", "-t", str(datasets_dir / "training_set.jsonl"), "-v", str(datasets_dir / "validation_set.jsonl"),
            "--timeout", "60"]
    result = invoke(fast_emulator, [*args, "--poll-interval", "0.1"])
    assert result.exit_code == 0, result.output
    assert intervals == [0.1, 0.1]
    assert invoke(fast_emulator, [*args, "--poll-interval", "30", "--detach"]).exit_code == 0
    assert intervals[2:] == [2.0, 2.0]  # a file is checked in seconds: never waited on longer than 2 s


@pytest.mark.parametrize("bad", [["--suffix", "bad name!"], ["--model", ""], ["-v", ""], ["-v", "missing.jsonl"]])
def test_bad_settings_or_files_upload_nothing(fast_emulator, datasets_dir, monkeypatch, capsys,
                                             bad: list[str]) -> None:
    for name, value in emulator_env(fast_emulator).items():
        monkeypatch.setenv(name, value)
    code, out, err = run_main(["train", "-t", str(datasets_dir / "training_set.jsonl"), *bad], capsys)
    assert code == 2, err
    assert err.startswith("Error: ") and "hint: " in err and "Traceback" not in err + out
    assert fast_emulator.state.dataplane.files.list(fast_emulator.config.default_account) == []
