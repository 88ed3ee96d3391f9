"""Response bodies validated against the GA data-plane spec (vendored in `tests/specs/`)."""
from __future__ import annotations

import pytest
from tests import loopback


def test_bodies_match_the_spec(emulator, openai_client, training_path, job_waiter, spec_validate):
    key = {"api-key": emulator.api_key}
    base = f"{emulator.url}/openai"
    q = "?api-version=2024-10-21"
    with training_path.open("rb") as fh:
        created = loopback.post(f"{base}/files{q}", headers=key, data={"purpose": "fine-tune"},
                                files={"file": ("training_set.jsonl", fh)})
    assert created.status_code == 201
    spec_validate("File", created.json())
    file_id = openai_client.files.wait_for_processing(created.json()["id"], poll_interval=0.05).id
    spec_validate("File", loopback.get(f"{base}/files/{file_id}{q}", headers=key).json())
    spec_validate("FileList", loopback.get(f"{base}/files{q}", headers=key).json())

    job = loopback.post(f"{base}/fine_tuning/jobs{q}", headers=key,
                        json={"model": "gpt-4o-mini-2024-07-18", "training_file": file_id, "suffix": "spec"})
    assert job.status_code == 201
    spec_validate("FineTuningJob", job.json())
    job_waiter(openai_client, job.json()["id"])
    job_id = job.json()["id"]
    done = loopback.get(f"{base}/fine_tuning/jobs/{job_id}{q}", headers=key).json()
    spec_validate("FineTuningJob", done)
    spec_validate("FineTuningJobList", loopback.get(f"{base}/fine_tuning/jobs{q}", headers=key).json())
    events = loopback.get(f"{base}/fine_tuning/jobs/{job_id}/events{q}&limit=100", headers=key).json()
    spec_validate("FineTuningJobEventList", events)
    assert {e["type"] for e in events["data"]} == {"message", "metrics"}
    checkpoints = loopback.get(f"{base}/fine_tuning/jobs/{job_id}/checkpoints{q}", headers=key).json()
    spec_validate("FineTuningJobCheckpointList", checkpoints)
    assert checkpoints["data"]
    models = loopback.get(f"{base}/models{q}", headers=key).json()
    spec_validate("ModelList", models)
    spec_validate("Model", loopback.get(f"{base}/models/{done['fine_tuned_model']}{q}", headers=key).json())
    spec_validate("FileDelete", loopback.delete(f"{base}/files/{file_id}{q}", headers=key).json())
    spec_validate("ErrorResponse", loopback.get(f"{base}/files/{file_id}{q}", headers=key).json())


def test_the_validator_rejects_a_wrong_shape(spec_validate):
    from jsonschema.exceptions import ValidationError

    with pytest.raises(ValidationError):
        spec_validate("File", {"object": "file", "id": "file-1", "filename": "a", "purpose": "fine-tune",
                               "status": "finished"})
    with pytest.raises(ValidationError):
        spec_validate("FineTuningJob", {"model": "m"})  # training_file is required
