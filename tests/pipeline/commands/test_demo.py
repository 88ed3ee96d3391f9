"""`aoai-ft demo`: the whole flow offline, through click's runner and as a real subprocess; nothing left behind."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import openai
from click.testing import CliRunner

from pipeline.arm import StaticTokenCredential, management_client
from pipeline.cli import cli
from pipeline.demo import ACCOUNT_NAME
from pipeline.emulator import EmulatorConfig, EmulatorServer
from tests.pipeline.emulated import run_main
from tests.paths import AOAI_FT

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_emulator_holds_nothing(data_dir: Path) -> None:
    """Restart an emulator on the demo's state: no demo account (live or soft-deleted), no file, job or model rows."""
    with EmulatorServer(EmulatorConfig(port=0, data_dir=data_dir, log_requests=False)) as emu:
        cfg = emu.config
        arm = management_client(cfg.subscription_id, endpoint=emu.url, credential=StaticTokenCredential("t"))
        assert [a.name for a in arm.accounts.list()] == [cfg.default_account]
        assert list(arm.deleted_accounts.list()) == []
        db = emu.state.db
        tables = [r["name"] for r in db.query("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            columns = {c["name"] for c in db.query(f'PRAGMA table_info("{table}")')}
            if "account" in columns:
                rows = db.query(f'SELECT COUNT(*) AS n FROM "{table}" WHERE lower(account)=lower(?)', (ACCOUNT_NAME,))
                assert rows[0]["n"] == 0, table
        client = openai.AzureOpenAI(azure_endpoint=emu.url, api_key=emu.api_key, api_version="2024-10-21")
        assert list(client.files.list()) == [] and list(client.fine_tuning.jobs.list()) == []


def test_demo_runs_end_to_end_and_cleans_up(tmp_path: Path) -> None:
    out, data = tmp_path / "out", tmp_path / "state"
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["demo", "--out", str(out), "--data-dir", str(data), "--training-seconds", "2"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert time.monotonic() - started < 45
    text = result.output
    # the steps, in order, with what they show
    order = ["1. validate", "Estimated training cost", "OK: 2 file(s) valid", "2. create the Azure OpenAI account",
             "3. upload", "4. fine-tune", "running | step", "succeeded:", "5. deploy", "6. ask both",
             "What is artificial intelligence?", "7. evaluate both", "created eval", "pass rate",
             "quality gate (at least +10% points over the base model): the fine-tuned model clears it",
             "8. loss curves", "9. tear down", "ok deleted eval", "summary", "demo finished"]
    positions = [text.index(marker) for marker in order]
    assert positions == sorted(positions)
    assert "base model (demo-base)" in text and "fine-tuned (demo-fine-tuned)" in text
    assert "[gpt-4o-mini-2024-07-18 base model]" in text  # the base answer, markup-escaped
    for line in ("ok deleted deployment demo-base", "ok deleted deployment demo-fine-tuned", "ok deleted model",
                 f"ok deleted account {ACCOUNT_NAME}", f"ok purged soft-deleted account {ACCOUNT_NAME}",
                 "ok nothing left"):
        assert line in text
    assert "fine-tuned model: gpt-4o-mini-2024-07-18.ft-" in text and "job: ftjob-" in text
    png = out / "loss.png"
    assert f"loss curves: {png}" in text
    assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 10_000
    picture = out / "eval.png"
    assert picture.read_bytes()[:8] == PNG_MAGIC and f"-> {picture}" in text
    assert_emulator_holds_nothing(data)


def test_demo_as_a_real_subprocess(tmp_path: Path) -> None:
    """What a fresh clone's README tells you to run, exactly (default training time), from the project root."""
    root = Path(__file__).resolve().parents[3]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "OPENAI_"))}
    started = time.monotonic()
    proc = subprocess.run([str(AOAI_FT), "demo", "--out", str(tmp_path / "demo")], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert elapsed < 60, elapsed
    assert "demo finished" in proc.stdout and "ok nothing left" in proc.stdout
    assert (tmp_path / "demo" / "loss.png").read_bytes()[:8] == PNG_MAGIC


def test_bad_datasets_fail_before_anything_starts(tmp_path: Path, datasets_dir: Path, capsys) -> None:
    bad = tmp_path / "datasets"
    bad.mkdir()
    shutil.copy(datasets_dir / "validation_set.jsonl", bad / "validation_set.jsonl")
    (bad / "training_set.jsonl").write_text('{"messages": []}\nnot json\n')
    code, stdout, stderr = run_main(["demo", "--datasets", str(bad), "--out", str(tmp_path / "out")], capsys)
    assert code == 1
    assert "INVALID" in stdout and "dataset has errors" in stderr and "aoai-ft validate" in stderr
    assert "2. create" not in stdout and not (tmp_path / "out").exists()

    code, _, stderr = run_main(["demo", "--datasets", str(tmp_path / "nowhere")], capsys)
    assert code == 2 and "no such file" in stderr


def test_output_and_state_folders_that_cannot_be_made_stop_it_before_anything_starts(tmp_path: Path, capsys) -> None:
    """`--out` is written last (the pictures) and `--data-dir` first: both are checked before step 1, as one error
    naming the folder, not a traceback after the whole flow (or from the emulator's start)."""
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("not a folder\n")
    for option in ("--out", "--data-dir"):
        code, out, err = run_main(["demo", option, str(in_the_way / "sub")], capsys)
        assert code == 2, err
        assert f"Error: cannot write {in_the_way / 'sub'}: {in_the_way} is a file, not a directory" in err
        assert f"hint: pass {option} a path in a directory you can write to" in err
        assert "1. validate" not in out and "Traceback" not in out + err
    if Path("/proc/self").is_dir():  # where permission bits say yes (as root) but nothing can be made
        code, out, err = run_main(["demo", "--out", "/proc/aoai-ft-demo"], capsys)
        assert code == 2 and "Error: cannot write /proc/aoai-ft-demo: nothing can be created in /proc" in err, err
