"""Ctrl-C in the commands that wait for the service (`train` has its own test): the real `aoai-ft` as a subprocess
gets SIGINT, exits 130, and says what goes on in the service and how to pick it up again or clean it up."""
from __future__ import annotations

from pipeline import envnames
from pipeline.arm import ARM_TOKEN_ENV
from pipeline.finetune import FineTuneRequest, ensure_fine_tuned_model
from tests.pipeline.emulated import add_fault, emulator_env, fired, interrupt, make_client, start
from tests.pipeline.emulator.conftest import put_deployment
from tests.pipeline.evals_world import BASE_MODEL, VALIDATION, v1_client


def stopped(code: int, err: str) -> tuple[str, str]:
    """The two lines of a deliberate stop: what goes on, and how to go on."""
    assert code == 130, err
    assert "Error" not in err and "Traceback" not in err and "Aborted" not in err, err
    lines = err.strip().splitlines()
    assert lines[-2].startswith("Stopped waiting (Ctrl-C): ") and lines[-1].startswith("  to go on: "), err
    return lines[-2], lines[-1]


def test_deploy_says_the_deployment_goes_on_and_bills(datasets_dir) -> None:
    emu = start(deployment_seconds=60)
    try:
        request = FineTuneRequest(training_path=datasets_dir / "training_set.jsonl")
        model = ensure_fine_tuned_model(make_client(emu), request, timeout=60, poll_interval=0.1).fine_tuned_model
        cfg = emu.config
        env = {envnames.AZURE_RESOURCE_MANAGER_ENDPOINT: emu.url, ARM_TOKEN_ENV: "emulator-token",
               envnames.AZURE_SUBSCRIPTION_ID: cfg.subscription_id,
               envnames.AZURE_RESOURCE_GROUP: cfg.default_resource_group,
               envnames.AZURE_OPENAI_RESOURCE_NAME: cfg.default_account}
        # ARM's operation status is polled only after the command has seen the PUT accepted: once a poll is seen
        # here, Ctrl-C finds the deployment known to be accepted, however slowly the command got there.
        add_fault(emu, route="/operationStatuses/", kind="latency", seconds=0, methods=["GET"])
        code, _, err = interrupt(["deploy", "--model", model, "--deployment", "teacher"], env,
                                 ready=lambda: fired(emu)[0] > 0)
        deployment = emu.state.deployments.get(cfg.default_account, "teacher")
        assert deployment is not None and deployment.provisioning_state(emu.state.clock.now()) == "Creating"
    finally:
        emu.stop()
    message, hint = stopped(code, err)
    assert message == ("Stopped waiting (Ctrl-C): deployment teacher was accepted by Azure Resource Manager and "
                       "goes on being created in Azure; a fine-tuned deployment is billed by the hour once it is "
                       "created."), err
    assert "run the same `aoai-ft deploy` again" in hint and "`aoai-ft deploy --deployment teacher --delete`" in hint
    assert (f"`az cognitiveservices account deployment show -g {cfg.default_resource_group} -n {cfg.default_account} "
            "--deployment-name teacher`") in hint


def test_upload_says_the_file_is_still_processed_and_a_rerun_reuses_it(datasets_dir) -> None:
    emu = start(file_processing_seconds=60)
    try:
        client = make_client(emu)
        # The command notes the file's id after its first check: a second check seen here means Ctrl-C finds it.
        add_fault(emu, route=r"/files/[^/]+$", kind="latency", seconds=0, methods=["GET"])
        code, _, err = interrupt(["upload", str(datasets_dir / "training_set.jsonl"), "--poll-interval", "0.2"],
                                 emulator_env(emu), ready=lambda: fired(emu)[0] >= 2)
        (file,) = client.files.list()
        assert file.status in ("pending", "running", "uploaded")
    finally:
        emu.stop()
    message, hint = stopped(code, err)
    assert message == (f"Stopped waiting (Ctrl-C): {datasets_dir / 'training_set.jsonl'} was uploaded as {file.id}; "
                       "the service goes on processing it."), err
    assert "run the same command again: it reuses the file" in hint


def test_eval_says_the_runs_go_on_and_a_rerun_adopts_them() -> None:
    emu = start(eval_run_seconds=120)
    try:
        put_deployment(emu, "base", BASE_MODEL)
        # The command polls its run only once it has noted it: a poll seen here means Ctrl-C finds the run known,
        # however slowly the command got there (a run merely existing in the service does not say so).
        add_fault(emu, route=r"/evals/[^/]+/runs/[^/]+$", kind="latency", seconds=0, methods=["GET"])
        code, _, err = interrupt(["eval", str(VALIDATION), "-d", "base", "--poll", "0.1"], emulator_env(emu),
                                 ready=lambda: fired(emu)[0] > 0)
        v1 = v1_client(emu)
        (evaluation,) = v1.evals.list()
        (run,) = v1.evals.runs.list(evaluation.id)
        assert run.status in ("queued", "in_progress")
    finally:
        emu.stop()
    message, hint = stopped(code, err)
    assert message == ("Stopped waiting (Ctrl-C): eval runs go on in the service until they finish: "
                       f"{run.id} on base."), err
    assert hint.startswith("  to go on: run the same `aoai-ft eval` command again: it adopts the runs"), err


def test_chat_says_nothing_goes_on() -> None:
    emu = start()
    try:
        put_deployment(emu, "base", BASE_MODEL)
        add_fault(emu, route="/chat/completions", kind="latency", seconds=30)
        code, _, err = interrupt(["chat", "-d", "base"], emulator_env(emu), ready=lambda: fired(emu)[0] > 0)
    finally:
        emu.stop()
    message, hint = stopped(code, err)
    assert "deployment base had not answered yet; nothing goes on in the service" in message, err
    assert "run the same `aoai-ft chat` command again" in hint
