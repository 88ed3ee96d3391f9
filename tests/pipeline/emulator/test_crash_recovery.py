"""kill -9 in the middle of an upload: the restart removes the partial file and keeps everything else."""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from pipeline.emulator import EmulatorConfig, EmulatorServer
from pipeline.emulator.server import free_port
from tests.pipeline.emulated import wait_until_healthy
from tests.paths import AOAI_FT

KEY = "crash-key"
BIG_BYTES = 96 * 1024 * 1024


def start(data_dir: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([str(AOAI_FT), "emulator", "--port", str(port), "--api-key", KEY, "--data-dir",
                             str(data_dir), "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until_healthy(proc, f"http://127.0.0.1:{port}", timeout=30)
    return proc


@pytest.fixture
def big_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "big.jsonl"
    line = b'{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}\n'
    with open(path, "wb") as out:
        out.write(line * (BIG_BYTES // len(line)))
    yield path
    path.unlink()


def client(port: int) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(azure_endpoint=f"http://127.0.0.1:{port}", api_key=KEY, api_version="2024-10-21",
                              max_retries=0, timeout=60)


def test_kill_9_during_an_upload_leaves_nothing_behind(tmp_path: Path, big_file: Path, datasets_dir: Path) -> None:
    data_dir, port = tmp_path / "state", free_port()
    files_dir = data_dir / "files"
    proc = start(data_dir, port)
    try:
        kept = client(port).files.create(file=open(datasets_dir / "training_set.jsonl", "rb"), purpose="fine-tune")
        killed_mid_copy = False
        for _ in range(3):  # the copy window is short; try again if the upload finished before we saw it
            upload = threading.Thread(target=_upload_ignoring_errors, args=(port, big_file), daemon=True)
            upload.start()
            deadline = time.monotonic() + 60
            while upload.is_alive() and time.monotonic() < deadline:
                if any(name.endswith(".partial") for name in os.listdir(files_dir)):
                    proc.send_signal(signal.SIGKILL)
                    killed_mid_copy = True
                    break
                time.sleep(0.001)
            upload.join(timeout=60)
            if killed_mid_copy:
                break
        assert killed_mid_copy, "never caught an upload mid-copy"
        proc.wait(timeout=10)
        assert any(name.endswith(".partial") for name in os.listdir(files_dir))  # what the crash left

        proc = start(data_dir, port)
        sdk = client(port)
        listed = {f.id for f in sdk.files.list()}
        assert kept.id in listed
        assert sorted(p.name for p in files_dir.iterdir() if p.is_file()) == sorted(listed)
        assert sdk.files.content(kept.id).read() == (datasets_dir / "training_set.jsonl").read_bytes()
    finally:
        proc.kill()
        proc.wait(timeout=10)


def _upload_ignoring_errors(port: int, path: Path) -> None:
    try:
        with open(path, "rb") as fh:
            client(port).files.create(file=fh, purpose="fine-tune")
    except openai.APIError:
        pass  # the server died under it: expected


def test_a_start_removes_leftovers_and_keeps_recorded_files(tmp_path: Path, datasets_dir: Path) -> None:
    config = EmulatorConfig(port=0, log_requests=False, data_dir=tmp_path / "state", file_processing_seconds=0)
    with EmulatorServer(config) as emu:
        sdk = openai.AzureOpenAI(azure_endpoint=emu.url, api_key=emu.api_key, api_version="2024-10-21")
        kept = sdk.files.create(file=open(datasets_dir / "training_set.jsonl", "rb"), purpose="fine-tune")
    files_dir = tmp_path / "state" / "files"
    (files_dir / "file-0123.partial").write_bytes(b"half an upl")
    (files_dir / "file-4567").write_bytes(b"renamed but never recorded")
    with EmulatorServer(config.model_copy(update={"port": 0})) as emu:
        assert sorted(p.name for p in files_dir.iterdir() if p.is_file()) == [kept.id]
        assert emu.state.dataplane.files.get(emu.config.default_account, kept.id) is not None
