"""Jobs as typed rows: what the routes serve is read from real columns, and a data dir written before them (one
JSON blob per job, deployments without a model column) is migrated in place at start."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import openai
import pytest

from pipeline.emulator import EmulatorConfig, EmulatorServer
from pipeline.emulator.clock import ManualClock
from pipeline.emulator.dataplane.job_request import parse_job_request

KEY = "rows-key"
CREATED = 1_750_000_000.0
OLD_JOB = {  # what the emulator stored in `jobs.data` before the typed columns
    "model": "gpt-4o-mini-2024-07-18", "base_model": "gpt-4o-mini-2024-07-18", "training_file": "file-t",
    "validation_file": None,
    "hyperparameters": {"batch_size": 1, "learning_rate_multiplier": 1.0, "n_epochs": 3},
    "suffix": "old", "seed": 7, "method_type": "supervised", "integrations": None, "metadata": {"team": "a"},
    "duration": 20.0, "examples": 10, "trained_tokens": 3000,
    "fine_tuned_model": "gpt-4o-mini-2024-07-18.ft-0123456789abcdef0123456789abcdef-old",
    "fails_with": None, "pauses": [[5.0, 3.0]], "paused_at": None, "cancelled_at": [8.0, CREATED + 11.0],
    "settled": True, "result_files": [],
}


def _old_data_dir(data_dir: Path) -> None:
    data_dir.mkdir()
    conn = sqlite3.connect(data_dir / "emulator.sqlite3")
    conn.executescript("""
        CREATE TABLE jobs (account TEXT NOT NULL, id TEXT PRIMARY KEY, created_at REAL NOT NULL, data TEXT NOT NULL,
                           deleted INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE deployments (account TEXT NOT NULL COLLATE NOCASE, name TEXT NOT NULL COLLATE NOCASE,
                                  sku TEXT NOT NULL, properties TEXT NOT NULL, tags TEXT NOT NULL,
                                  created_at REAL NOT NULL, ready_at REAL NOT NULL, PRIMARY KEY (account, name));
        CREATE TABLE fine_tuned_models (account TEXT NOT NULL, id TEXT NOT NULL, base_model TEXT NOT NULL,
                                        job_id TEXT NOT NULL, created_at REAL NOT NULL, deleted_at REAL,
                                        kind TEXT NOT NULL DEFAULT 'model', training_data TEXT,
                                        PRIMARY KEY (account, id));
    """)
    conn.execute("INSERT INTO jobs VALUES (?,?,?,?,0)",
                 ("emulator", "ftjob-old", CREATED, json.dumps(OLD_JOB, sort_keys=True)))
    conn.execute("INSERT INTO fine_tuned_models VALUES (?,?,?,?,?,NULL,'model',NULL)",
                 ("emulator", "gpt-4o-mini-2024-07-18.ft-aaaa", "gpt-4o-mini-2024-07-18", "ftjob-x", CREATED))
    conn.execute("INSERT INTO deployments VALUES (?,?,?,?,?,?,?)",
                 ("emulator", "ft", '{"name":"Standard","capacity":1}',
                  '{"model":{"format":"OpenAI","name":"gpt-4o-mini-2024-07-18.ft-aaaa","version":"1"}}', "{}",
                  CREATED, CREATED))
    conn.commit()
    conn.close()


def test_an_older_data_dir_is_migrated_to_typed_rows(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    _old_data_dir(data_dir)
    config = EmulatorConfig(port=0, api_key=KEY, data_dir=data_dir, log_requests=False)
    with EmulatorServer(config, clock=ManualClock(CREATED + 60)) as emu:
        client = openai.AzureOpenAI(azure_endpoint=emu.url, api_key=KEY, api_version="2025-04-01-preview",
                                    max_retries=0)
        job = client.fine_tuning.jobs.retrieve("ftjob-old")
        assert job.status == "cancelled" and job.suffix == "old" and job.seed == 7
        assert job.hyperparameters.n_epochs == 3 and job.metadata == {"team": "a"}
        messages = [e.message for e in client.fine_tuning.jobs.list_events("ftjob-old")]
        assert "Fine-tuning job paused" in messages and "Fine-tuning job resumed" in messages
        with pytest.raises(openai.ConflictError, match="emulator/ft"):  # found by its model column
            client.models.delete("gpt-4o-mini-2024-07-18.ft-aaaa")
    columns = {row[1] for row in sqlite3.connect(data_dir / "emulator.sqlite3").execute("PRAGMA table_info(jobs)")}
    assert "data" not in columns and {"settled", "cancelled_effective", "account", "created_at"} <= columns


def test_unsettled_jobs_are_found_by_their_column(tmp_path: Path) -> None:
    """A job that finished unread is settled by the next model lookup: found through `settled = 0`."""
    clock = ManualClock(CREATED)
    with EmulatorServer(EmulatorConfig(port=0, api_key=KEY, log_requests=False), clock=clock) as emu:
        plane = emu.state.dataplane
        training = plane.files.add_bytes("emulator", "t.jsonl", "fine-tune", (
            b'{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}\n' * 10))
        plane.files.wait_for_check(training.id)
        clock.advance(5)
        job = plane.jobs.create("emulator", parse_job_request(
            {"model": "gpt-4o-mini-2024-07-18", "training_file": training.id}))
        assert [j.id for j in plane.jobs.rows.unsettled()] == [job.id]
        clock.advance(60)
        assert emu.state.models.exists("emulator", job.fine_tuned_model)  # settles first
        assert plane.jobs.rows.unsettled() == []
        assert plane.jobs.rows.get(job.id).results_file is not None
