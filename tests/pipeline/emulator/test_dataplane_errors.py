"""Bad inputs fail like Azure: auth, api-version, unknown/unprocessed files, unsupported model, second job,
unknown/creating/paused deployments, oversized uploads."""
from __future__ import annotations

import openai
import pytest

from pipeline.emulator.dataplane.context import ACCESS_DENIED
from tests import loopback


def _processed(client, path):
    with path.open("rb") as fh:
        return client.files.wait_for_processing(client.files.create(file=fh, purpose="fine-tune").id,
                                                poll_interval=0.05)


def test_wrong_or_missing_key_is_401_with_azure_envelope(emulator):
    for headers in ({"api-key": "wrong"}, {}):
        r = loopback.get(f"{emulator.url}/openai/models?api-version=2024-10-21", headers=headers)
        assert r.status_code == 401
        assert r.json() == {"error": {"code": "401", "message": ACCESS_DENIED}}
    bad = openai.AzureOpenAI(azure_endpoint=emulator.url, api_key="wrong", api_version="2024-10-21")
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()


def test_key_on_account_without_local_auth_is_403(emulator):
    account = emulator.state.accounts.get("emulator")
    account.properties["disableLocalAuth"] = True
    emulator.state.accounts.upsert(account)
    r = loopback.get(f"{emulator.url}/openai/models?api-version=2024-10-21", headers={"api-key": emulator.api_key})
    assert r.status_code == 403
    assert r.json()["error"] == {"code": "AuthenticationTypeDisabled",
                                 "message": "Key based authentication is disabled for this resource."}
    ok = loopback.get(f"{emulator.url}/openai/models?api-version=2024-10-21", headers={"Authorization": "Bearer t"})
    assert ok.status_code == 200


def test_api_version_rules(emulator):
    key = {"api-key": emulator.api_key}
    assert loopback.get(f"{emulator.url}/openai/models", headers=key).status_code == 404
    assert loopback.get(f"{emulator.url}/openai/models?api-version=yesterday", headers=key).status_code == 400
    for version in ("2023-05-01", "2023-05-15", "2024-10-21", "2025-04-01-preview"):
        assert loopback.get(f"{emulator.url}/openai/models?api-version={version}", headers=key).status_code == 200
    assert loopback.get(f"{emulator.url}/openai/v1/models", headers=key).status_code == 200
    assert loopback.get(f"{emulator.url}/accounts/nope/openai/v1/models", headers=key).status_code == 404


def test_unknown_deployment_creating_and_paused(emulator, openai_client, deploy):
    with pytest.raises(openai.NotFoundError) as err:
        openai_client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}])
    assert err.value.body["code"] == "DeploymentNotFound"
    assert err.value.body["message"].startswith("The API deployment for this resource does not exist.")
    deploy(emulator, "slow", "gpt-4o-mini-2024-07-18", ready_in=3600)
    with pytest.raises(openai.NotFoundError):
        openai_client.chat.completions.create(model="slow", messages=[{"role": "user", "content": "hi"}])
    deploy(emulator, "sleepy", "gpt-4o-mini-2024-07-18", paused=True)
    with pytest.raises(openai.APIStatusError) as err:
        openai_client.chat.completions.create(model="sleepy", messages=[{"role": "user", "content": "hi"}])
    assert err.value.status_code == 423
    deploy(emulator, "base", "gpt-4o-mini-2024-07-18")
    with pytest.raises(openai.BadRequestError):
        openai_client.chat.completions.create(model="base", messages=[])


def test_bad_training_file_ends_in_error_with_line_numbers(openai_client, bad_training_path):
    with bad_training_path.open("rb") as fh:
        created = openai_client.files.create(file=fh, purpose="fine-tune")
    done = openai_client.files.wait_for_processing(created.id, poll_interval=0.05)
    assert done.status == "error"
    assert "line 3: invalid_json" in done.status_details
    assert "line 5: example_missing_assistant_message" in done.status_details
    with pytest.raises(openai.BadRequestError) as err:
        openai_client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=created.id)
    assert err.value.body["code"] == "unexpectedEntityState" and "line 3" in err.value.body["message"]


def test_job_create_errors(openai_client, training_path):
    file_id = _processed(openai_client, training_path).id
    with pytest.raises(openai.BadRequestError) as err:
        openai_client.fine_tuning.jobs.create(model="gpt-5-turbo", training_file=file_id)
    assert err.value.body["code"] == "invalidPayload" and "gpt-4o-mini-2024-07-18" in err.value.body["message"]
    with pytest.raises(openai.BadRequestError) as err:
        openai_client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file="file-missing")
    assert err.value.body["param"] == "training_file"
    with pytest.raises(openai.BadRequestError):
        openai_client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=file_id,
                                              suffix="not a valid suffix!")
    with pytest.raises(openai.BadRequestError):
        openai_client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=file_id,
                                              hyperparameters={"n_epochs": 0})
    with training_path.open("rb") as fh:  # still pending: not usable yet
        fresh = openai_client.files.create(file=fh, purpose="fine-tune")
    with pytest.raises(openai.BadRequestError) as err:
        openai_client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=fresh.id)
    assert "wait until its status is 'processed'" in err.value.body["message"]


def test_second_active_job_is_refused_without_retries(openai_client, training_path):
    file_id = _processed(openai_client, training_path).id
    first = openai_client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=file_id)
    with pytest.raises(openai.RateLimitError) as err:
        openai_client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=file_id)
    assert err.value.body["code"] == "quotaExceeded" and first.id in err.value.body["message"]
    assert err.value.response.headers["x-should-retry"] == "false"
    openai_client.fine_tuning.jobs.cancel(first.id)
    second = openai_client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=file_id)
    assert second.status == "pending"


def test_upload_over_the_limit_is_refused_and_not_kept(emulator, openai_client, monkeypatch, tmp_path):
    from pipeline.emulator.dataplane import files

    monkeypatch.setattr(files, "MAX_UPLOAD_BYTES", 1000)
    big = tmp_path / "big.jsonl"
    big.write_bytes(b"x" * 5000)
    with pytest.raises(openai.APIStatusError) as err:
        openai_client.files.create(file=big.open("rb"), purpose="fine-tune")
    assert err.value.status_code == 413 and "maximum size" in err.value.body["message"]
    assert list(openai_client.files.list()) == []
    assert not any(p.is_file() for p in emulator.state.dataplane.files.root.iterdir())


def test_upload_needs_purpose_and_file(emulator):
    url = f"{emulator.url}/openai/files?api-version=2024-10-21"
    key = {"api-key": emulator.api_key}
    r = loopback.post(url, headers=key, files={"file": ("a.jsonl", b"{}")})
    assert r.status_code == 400 and r.json()["error"]["param"] == "purpose"
    r = loopback.post(url, headers=key, data={"purpose": "fine-tune"}, files={"other": ("a", b"")})
    assert r.status_code == 400 and r.json()["error"]["param"] == "file"


def test_unknown_ids_are_404(openai_client):
    with pytest.raises(openai.NotFoundError):
        openai_client.files.retrieve("file-nope")
    with pytest.raises(openai.NotFoundError):
        openai_client.fine_tuning.jobs.retrieve("ftjob-nope")
    with pytest.raises(openai.NotFoundError):
        openai_client.models.retrieve("gpt-4o-mini-2024-07-18.ft-00000000000000000000000000000000")
    with pytest.raises(openai.BadRequestError):
        openai_client.models.delete("gpt-4o-mini-2024-07-18")


@pytest.mark.parametrize("keep", [False, True], ids=["in-memory", "data-dir"])
def test_stopping_the_emulator_removes_an_in_memory_instance_s_files(tmp_path, datasets_dir, keep):
    """stop() removes the temp dir of an in-memory emulator at once (not whenever its store is garbage-collected,
    which a process ending without exit handlers never does); a --data-dir keeps its files."""
    from tests.pipeline.emulated import make_client, start

    emu = start(data_dir=tmp_path / "state" if keep else None)
    try:
        with (datasets_dir / "training_set.jsonl").open("rb") as data:
            uploaded = make_client(emu).files.create(file=data, purpose="fine-tune")
        root = emu.state.dataplane.files.root
        assert (root / uploaded.id).is_file()
    finally:
        emu.stop()
    assert (root / uploaded.id).is_file() if keep else not root.exists()
    emu.stop()  # a second stop is harmless
