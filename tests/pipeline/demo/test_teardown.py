"""`pipeline.demo.tear_down`: whatever step the demo stopped at, it removes exactly what `Created` names, keeps
going past a failed removal, and says what is left."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from azure.mgmt.cognitiveservices import CognitiveServicesManagementClient
from azure.mgmt.cognitiveservices.models import Account, AccountProperties, Sku
from rich.console import Console

from pipeline.arm import StaticTokenCredential, find_deleted_account, management_client
from pipeline.demo import Created, DemoJournal, UploadedFiles, tear_down
from pipeline.demo.teardown import account_client
from pipeline.emulator import EmulatorServer
from tests.infra.emulated_arm import EmulatedArm, TOKEN

NAME = "aoai-ft-demo-partial"


def journal() -> DemoJournal:
    return DemoJournal(out=Console(file=io.StringIO(), width=200))


def arm_for(server: EmulatorServer) -> CognitiveServicesManagementClient:
    return management_client(server.config.subscription_id, endpoint=server.url,
                             credential=StaticTokenCredential(TOKEN), polling_interval=0.05)


@pytest.fixture
def world(emulated_arm: EmulatedArm) -> tuple[EmulatorServer, CognitiveServicesManagementClient]:
    server = emulated_arm.server
    arm = arm_for(server)
    body = Account(kind="OpenAI", sku=Sku(name="S0"), location=server.config.location,
                   properties=AccountProperties(custom_sub_domain_name=NAME))
    arm.accounts.begin_create(server.config.default_resource_group, NAME, body).result()
    return server, arm


def uploaded(arm: CognitiveServicesManagementClient, group: str, datasets_dir: Path) -> UploadedFiles:
    client = account_client(arm, group, NAME)
    ids = [client.files.create(file=(path.name, path.read_bytes()), purpose="fine-tune").id
           for path in (datasets_dir / "training_set.jsonl", datasets_dir / "validation_set.jsonl")]
    return UploadedFiles(training=ids[0], validation=ids[1])


def test_nothing_created_touches_nothing(emulated_arm: EmulatedArm) -> None:
    server = emulated_arm.server
    record = journal()
    tear_down(record, arm_for(server), server.config.default_resource_group, server.config.location, Created())
    assert record.removed == [] and record.failures == []
    assert "nothing was created" in record.out.file.getvalue()
    assert emulated_arm.requests == []


def test_stopped_after_upload_removes_the_files_and_the_account(world, datasets_dir: Path) -> None:
    server, arm = world
    group, location = server.config.default_resource_group, server.config.location
    files = uploaded(arm, group, datasets_dir)
    record = journal()
    tear_down(record, arm, group, location, Created(account=NAME, files=files))
    assert record.failures == []
    assert record.removed == [f"deleted file {files.training}", f"deleted file {files.validation}",
                              f"deleted account {NAME}", f"purged soft-deleted account {NAME}"]
    assert [a.name for a in arm.accounts.list_by_resource_group(group)].count(NAME) == 0
    assert find_deleted_account(arm, location=location, resource_group=group, account_name=NAME) is None
    assert f"nothing left: no account {NAME}" in record.out.file.getvalue()


def test_a_failed_removal_is_recorded_and_the_rest_still_runs(world, emulated_arm: EmulatedArm) -> None:
    server, arm = world
    group, location = server.config.default_resource_group, server.config.location
    emulated_arm.refuse("DELETE", f"/accounts/{NAME}$", 409, "Conflict")
    record = journal()
    tear_down(record, arm, group, location, Created(account=NAME))
    assert record.removed == [f"purged soft-deleted account {NAME}"]  # nothing soft-deleted: the purge is a no-op
    assert len(record.failures) == 2
    assert record.failures[0].startswith(f"deleted account {NAME}: ") and "Conflict" in record.failures[0]
    assert record.failures[1] == f"account {NAME} is still there"
    assert NAME in [a.name for a in arm.accounts.list_by_resource_group(group)]
