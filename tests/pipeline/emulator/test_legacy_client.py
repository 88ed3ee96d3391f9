"""The lab's Task 7 and 9 calls, verbatim, with openai==0.28.1 in its own venv, against the emulator."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.pipeline.emulated import reaped

ROOT = Path(__file__).resolve().parents[3]
LEGACY_PYTHON = Path(os.environ.get("AOAI_FT_LEGACY_PYTHON") or ROOT / ".venv-legacy" / "bin" / "python")

# Task 7 (upload, submit, retrieve, list) as printed in the lab, polling shortened; then list_events and
# Task 9's question through ChatCompletion.create(engine=...) on the deployment.
LAB_SCRIPT = r'''
import json, os, time
import openai

openai.api_key = os.getenv("AZURE_OPENAI_API_KEY")
openai.api_base = os.getenv("AZURE_OPENAI_ENDPOINT")
openai.api_type = 'azure'
openai.api_version = '2023-05-01'

training_file_name = 'training_set.jsonl'
validation_file_name = 'validation_set.jsonl'

training_response = openai.File.create(
    file = open(training_file_name, "rb"), purpose="fine-tune", user_provided_filename="training_set.jsonl"
)
training_file_id = training_response["id"]

validation_response = openai.File.create(
    file = open(validation_file_name, "rb"), purpose="fine-tune", user_provided_filename="validation_set.jsonl"
)
validation_file_id = validation_response["id"]

print("Training file ID:", training_file_id)
print("Validation file ID:", validation_file_id)

while openai.File.retrieve(validation_file_id)["status"] != "processed" or openai.File.retrieve(training_file_id)["status"] != "processed":
    time.sleep(0.1)

response = openai.FineTuningJob.create(
    training_file = training_file_id,
    validation_file = validation_file_id,
    model = "gpt-4o-mini-2024-07-18",
)
job_id = response["id"]
print("Job ID:", response["id"])
print("Status:", response["status"])

response = openai.FineTuningJob.retrieve(job_id)
status = response["status"]
while status not in ["succeeded", "failed"]:
    time.sleep(0.2)
    response = openai.FineTuningJob.retrieve(job_id)
    status = response["status"]
print(f'Fine-tuning job {job_id} finished with status: {status}')

response = openai.FineTuningJob.list()
print(f'Found {len(response["data"])} fine-tune jobs.')

response = openai.FineTuningJob.retrieve(job_id)
fine_tuned_model = response["fine_tuned_model"]

events = openai.FineTuningJob.list_events(id=job_id, limit=5)
print("RESULT " + json.dumps({
    "status": status, "fine_tuned_model": fine_tuned_model, "jobs": len(openai.FineTuningJob.list()["data"]),
    "events": [e["message"] for e in events["data"]],
}))
input("deployed? ")  # the test deploys the model (Task 8 is ARM, another plane) and presses enter

response = openai.ChatCompletion.create(
    engine="ft-lab",
    messages=[
        {"role": "system", "content": "The system is an AI teacher that helps people learn about AI"},
        {"role": "user", "content": "What are the different types of artificial intelligence?"},
        {"role": "assistant", "content": "There are three main types of artificial intelligence: Narrow or Weak AI, General or Strong AI, and Artificial Superintelligence."},
        {"role": "user", "content": "What is artificial intelligence?"},
    ],
)
print("ANSWER " + json.dumps(response["choices"][0]["message"]["content"]))
'''


@pytest.mark.skipif(not LEGACY_PYTHON.exists(),
                    reason=f"no openai==0.28.1 venv at {LEGACY_PYTHON} (CI creates it via .ci/run; set AOAI_FT_LEGACY_PYTHON)")
def test_lab_task_7_and_9_with_openai_0_28(emulator, deploy, tmp_path, training_path, validation_path):
    shutil.copy(training_path, tmp_path / "training_set.jsonl")
    shutil.copy(validation_path, tmp_path / "validation_set.jsonl")
    script = tmp_path / "lab.py"
    script.write_text(LAB_SCRIPT, encoding="utf-8")
    env = {"PATH": os.environ.get("PATH", ""), "AZURE_OPENAI_API_KEY": emulator.api_key,
           "AZURE_OPENAI_ENDPOINT": emulator.url + "/"}  # trailing slash, as the portal shows it
    proc = subprocess.Popen([str(LEGACY_PYTHON), str(script)], cwd=tmp_path, env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with reaped(proc):
        lines = []
        while True:
            line = proc.stdout.readline()
            assert line, f"lab script ended early:\n{''.join(lines)}\n{proc.stderr.read()}"
            lines.append(line)
            if line.startswith("RESULT "):
                break
        result = json.loads(line[len("RESULT "):])
        assert result["status"] == "succeeded" and result["jobs"] == 1
        assert result["events"][0] == "The job has successfully completed"
        deploy(emulator, "ft-lab", result["fine_tuned_model"])
        out, err = proc.communicate("\n", timeout=60)
    assert proc.returncode == 0, err
    text = "".join(lines) + out
    assert "Training file ID: file-" in text and "Status: pending" in text
    assert "Found 1 fine-tune jobs." in text
    answer = json.loads(out.split("ANSWER ", 1)[1])
    assert answer.startswith("Artificial intelligence (AI) is the field")
