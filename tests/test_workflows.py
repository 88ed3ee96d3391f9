"""The GitHub workflows cannot run here, so they are checked statically: valid against GitHub's workflow schema
(SchemaStore's, vendored by check-jsonschema), wired as the README says (the project's own tests on every push, PR
preview with the policy pack and dataset comment, dev up on main, approval-gated prod promotion, both skipping
without secrets), and pointing only at files, `aoai-ft` commands and action inputs that exist. Their shell steps
that decide something (the secrets check) are run with bash."""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import click
import jsonschema
import pytest
import yaml

from pipeline.cli import COMMANDS, cli

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
AZURE_WORKFLOWS = [path for path in WORKFLOWS if path.name in ("deploy.yml", "preview.yml")]

# Input names from each action's action.yml at the pinned major (a typo in `with:` is silently ignored by GitHub).
KNOWN_INPUTS: dict[str, set[str]] = {
    "actions/checkout@v7": set(),
    "actions/setup-python@v7": {"python-version", "python-version-file", "cache", "architecture", "check-latest",
                                "token", "cache-dependency-path", "update-environment", "allow-prereleases",
                                "freethreaded", "pip-version"},
    "actions/github-script@v8": {"script", "github-token", "debug", "user-agent", "previews", "result-encoding",
                                 "retries", "retry-exempt-status-codes", "base-url"},
    "azure/login@v3": {"creds", "client-id", "tenant-id", "subscription-id", "environment",
                       "allow-no-subscriptions", "audience", "auth-type"},
    "pulumi/actions@v7": {"command", "stack-name", "pulumi-version", "pulumi-version-file", "work-dir",
                          "comment-on-pr", "comment-on-pr-number", "comment-on-summary", "github-token", "cloud-url",
                          "secrets-provider", "parallel", "message", "config-map", "expect-no-changes", "diff",
                          "replace", "exclude", "exclude-dependents", "target", "target-dependents", "policyPacks",
                          "policyPackConfigs", "refresh", "upsert", "remove", "edit-pr-comment", "color",
                          "exclude-protected", "plan", "suppress-outputs", "suppress-progress",
                          "always-include-summary", "continue-on-error", "log-verbosity", "log-flow", "debug"},
}


def load(path: Path) -> dict[str, Any]:
    """Parse a workflow; YAML 1.1 reads the `on:` key as True, so put it back."""
    data = yaml.safe_load(path.read_text())
    if True in data:
        data["on"] = data.pop(True)
    return data


def by_name(name: str) -> dict[str, Any]:
    return load(ROOT / ".github" / "workflows" / name)


def steps(workflow: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(job id, job, step) for every step."""
    for job_id, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            yield job_id, job, step


def resolve(value: str, env: dict[str, str]) -> str:
    """Expand `${{ env.X }}`, `$X` and `${X}` from the workflow/job env."""
    value = re.sub(r"\$\{\{\s*env\.(\w+)\s*\}\}", lambda m: env[m.group(1)], value)
    return re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), m.group(0)), value)


def env_for(workflow: dict[str, Any], job: dict[str, Any], step: dict[str, Any]) -> dict[str, str]:
    return {**workflow.get("env", {}), **job.get("env", {}), **step.get("env", {})}


def pulumi_steps(workflow: dict[str, Any], command: str) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    """(job id, resolved `with:`) of every pulumi/actions step running `command`."""
    found = []
    for job_id, job, step in steps(workflow):
        if step.get("uses", "").startswith("pulumi/actions@") and step.get("with", {}).get("command") == command:
            env = env_for(workflow, job, step)
            found.append((job_id, job, {k: resolve(str(v), env) for k, v in step["with"].items()}))
    return found


def aoai_ft_calls(workflow: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(job id, argv after `aoai-ft`) for every `aoai-ft ...` command line in `run:` scripts."""
    calls = []
    for job_id, job, step in steps(workflow):
        env = env_for(workflow, job, step)
        for line in step.get("run", "").splitlines():
            tokens = shlex.split(line, comments=True)
            if "aoai-ft" in tokens:
                argv = tokens[tokens.index("aoai-ft") + 1:]
                argv = argv[: next((i for i, t in enumerate(argv) if t in {">", "2>&1", "|", "&&", ";"}), len(argv))]
                calls.append((job_id, [resolve(t, env) for t in argv]))
    return calls


def test_the_example_workflows_exist() -> None:
    assert {"deploy.yml", "preview.yml"} <= {p.name for p in WORKFLOWS}


@pytest.fixture(scope="module")
def workflow_schema() -> dict[str, Any]:
    source = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("github-workflows.json")
    return json.loads(source.read_text())


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_is_valid_against_githubs_schema(path: Path, workflow_schema: dict[str, Any]) -> None:
    jsonschema.validate(load(path), workflow_schema)


def test_schema_check_catches_a_broken_job(workflow_schema: dict[str, Any]) -> None:
    broken = by_name("preview.yml")
    del broken["jobs"]["preview-dev"]["runs-on"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, workflow_schema)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_required_keys_and_known_action_inputs(path: Path) -> None:
    workflow = load(path)
    assert workflow["on"] and workflow["jobs"]
    for job_id, job in workflow["jobs"].items():
        assert job["runs-on"] == "ubuntu-latest", job_id
        assert job["steps"], job_id
    for job_id, _, step in steps(workflow):
        assert ("uses" in step) != ("run" in step), f"{job_id}: a step has exactly one of uses/run"
        if "uses" in step:
            assert step["uses"] in KNOWN_INPUTS, f"{job_id}: unpinned or unexpected action {step['uses']}"
            unknown = set(step.get("with", {})) - KNOWN_INPUTS[step["uses"]]
            assert not unknown, f"{job_id}: {step['uses']} has no input(s) {unknown}"


@pytest.mark.parametrize("path", AZURE_WORKFLOWS, ids=lambda p: p.name)
def test_azure_oidc_has_the_id_token_permission(path: Path) -> None:
    workflow = load(path)
    uses_azure = any(step.get("uses", "").startswith("azure/login@") for _, _, step in steps(workflow))
    assert uses_azure
    assert workflow["permissions"]["id-token"] == "write"
    for _, _, step in steps(workflow):
        if step.get("uses", "").startswith("azure/login@"):
            assert set(step["with"]) == {"client-id", "tenant-id", "subscription-id"}  # OIDC: no client secret


def test_preview_runs_on_pull_requests_with_policy_pack_and_dataset_comment() -> None:
    workflow = by_name("preview.yml")
    assert "pull_request" in workflow["on"]
    assert workflow["permissions"]["pull-requests"] == "write"
    [(_, _, preview)] = pulumi_steps(workflow, "preview")
    assert preview["stack-name"] == "dev" and preview["policyPacks"] == "policy"
    assert preview["comment-on-pr"] == "True"
    calls = [argv for _, argv in aoai_ft_calls(workflow)]
    assert ["validate", "datasets/training_set.jsonl", "datasets/validation_set.jsonl", "--json"] in calls
    scripts = [step["with"]["script"] for _, _, step in steps(workflow) if step.get("uses", "").startswith("actions/github-script@")]
    assert len(scripts) == 1 and "createComment" in scripts[0] and "dataset-report.json" in scripts[0]


def test_deploy_updates_dev_on_main_then_promotes_behind_an_approval() -> None:
    workflow = by_name("deploy.yml")
    assert workflow["on"]["push"]["branches"] == ["main"]
    ups = pulumi_steps(workflow, "up")
    assert [(job_id, w["stack-name"]) for job_id, _, w in ups] == [("up-dev", "dev"), ("promote-prod", "prod")]
    assert all(w["policyPacks"] == "policy" for _, _, w in ups)

    promote_job = workflow["jobs"]["promote-prod"]
    assert promote_job["needs"] == "up-dev"
    environment = promote_job["environment"]
    assert (environment if isinstance(environment, str) else environment["name"]) == "prod"
    assert "environment" not in workflow["jobs"]["up-dev"]  # only prod waits for reviewers
    assert workflow["concurrency"]["cancel-in-progress"] is False  # never cancel a running pulumi up

    promote_steps = promote_job["steps"]
    promote_at = next(i for i, s in enumerate(promote_steps) if "aoai-ft promote" in s.get("run", ""))
    up_at = next(i for i, s in enumerate(promote_steps) if s.get("with", {}).get("command") == "up")
    assert promote_at < up_at, "promote must record the model before prod's pulumi up"
    assert ("promote-prod", ["promote", "--from", "dev", "--to", "prod"]) in aoai_ft_calls(workflow)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_referenced_files_and_stacks_exist(path: Path) -> None:
    workflow = load(path)
    for command in ("preview", "up"):
        for job_id, _, with_ in pulumi_steps(workflow, command):
            assert (ROOT / with_["work-dir"] / "Pulumi.yaml").is_file(), job_id
            assert (ROOT / with_["policyPacks"] / "PulumiPolicy.yaml").is_file(), job_id
            json.loads((ROOT / with_["policyPackConfigs"]).read_text())
            stack = with_["stack-name"].rsplit("/", 1)[-1]
            assert any((ROOT / f"Pulumi.{stack}{suffix}").is_file() for suffix in (".yaml", ".yaml.example")), stack
    text = path.read_text()
    for relative in re.findall(r"(?:policy|datasets)/[\w./-]+\.(?:jsonl|json|txt|yaml)\b", text) + ["pyproject.toml"]:
        assert (ROOT / relative).is_file(), relative


@pytest.mark.parametrize("path", AZURE_WORKFLOWS, ids=lambda p: p.name)
def test_aoai_ft_commands_exist(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # workflows run from the repository root; dataset paths are relative to it
    calls = aoai_ft_calls(load(path))
    assert calls
    for job_id, argv in calls:
        name, *args = argv
        assert name in COMMANDS, f"{job_id}: `aoai-ft {name}` is not a command"
        command = cli.get_command(click.Context(cli), name)
        if command is None:
            continue  # module not written yet: the name check above is all we can do
        with command.make_context(f"aoai-ft {name}", list(args), resilient_parsing=False) as ctx:
            assert ctx.params is not None  # parses: every option and argument the workflow passes exists


def run_workflow_validate(workdir: Path) -> int:
    """Run preview.yml's two `aoai-ft validate` lines with the real console script, as its step does."""
    workflow = by_name("preview.yml")
    json_argv, text_argv = [argv for _, argv in aoai_ft_calls(workflow) if argv[0] == "validate"]
    aoai_ft = Path(sys.executable).parent / "aoai-ft"
    as_json = subprocess.run([str(aoai_ft), *json_argv], cwd=ROOT, capture_output=True, text=True, timeout=120)
    (workdir / "dataset-report.json").write_text(as_json.stdout)
    as_text = subprocess.run([str(aoai_ft), *text_argv], cwd=ROOT, capture_output=True, text=True, timeout=120,
                             env={**os.environ, **workflow["env"]})
    (workdir / "dataset-report.txt").write_text(as_text.stdout + as_text.stderr)
    return as_json.returncode


def test_dataset_report_step_yields_the_json_the_comment_reads(tmp_path: Path) -> None:
    assert run_workflow_validate(tmp_path) == 0  # the shipped datasets are clean
    report = json.loads((tmp_path / "dataset-report.json").read_text())
    assert report["ok"] is True
    assert "training_set.jsonl" in (tmp_path / "dataset-report.txt").read_text()


COMMENT_HARNESS = """
const calls = [];
const existing = JSON.parse(process.env.EXISTING_COMMENTS);
const github = {
  paginate: async (method, args) => { calls.push(['list', args]); return existing; },
  rest: { issues: {
    listComments: () => { throw new Error('called through paginate only'); },
    createComment: async (args) => { calls.push(['create', args]); },
    updateComment: async (args) => { calls.push(['update', args]); },
  } },
};
const context = { repo: { owner: 'o', repo: 'r' }, issue: { number: 7 } };
(async () => {
%s
})().then(() => console.log(JSON.stringify(calls)), (e) => { console.error(e); process.exit(1); });
"""


def run_comment_script(workdir: Path, existing: list[dict[str, Any]]) -> list[list[Any]]:
    """Run preview.yml's github-script body under node with a recording fake `github` client."""
    [script] = [s["with"]["script"] for _, _, s in steps(by_name("preview.yml")) if s.get("uses", "").startswith("actions/github-script@")]
    harness = workdir / "comment.js"
    harness.write_text(COMMENT_HARNESS % script)
    env = {**os.environ, **by_name("preview.yml")["env"], "EXISTING_COMMENTS": json.dumps(existing)}
    result = subprocess.run(["node", str(harness)], cwd=workdir, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_comment_script_posts_then_updates_one_comment(tmp_path: Path) -> None:
    run_workflow_validate(tmp_path)
    calls = run_comment_script(tmp_path, existing=[{"id": 1, "body": "unrelated"}])
    assert [c[0] for c in calls] == ["list", "create"]
    body = calls[1][1]["body"]
    assert calls[1][1]["issue_number"] == 7
    assert body.startswith("<!-- aoai-ft-dataset-report -->") and "✅ ready to train" in body
    assert '"ok": true' in body and "datasets/training_set.jsonl" in body

    calls = run_comment_script(tmp_path, existing=[{"id": 1, "body": "x"}, {"id": 42, "body": body}])
    assert [c[0] for c in calls] == ["list", "update"] and calls[1][1]["comment_id"] == 42


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_comment_script_flags_a_failed_or_garbled_report(tmp_path: Path) -> None:
    (tmp_path / "dataset-report.txt").write_text("line 3: missing assistant message\n")
    (tmp_path / "dataset-report.json").write_text(json.dumps({"ok": False, "files": []}))
    [_, (_, failed)] = run_comment_script(tmp_path, existing=[])
    assert "❌" in failed["body"] and "missing assistant message" in failed["body"]
    (tmp_path / "dataset-report.json").write_text("Traceback (most recent call last)")
    [_, (_, garbled)] = run_comment_script(tmp_path, existing=[])
    assert "❌" in garbled["body"] and "could not parse the JSON report" in garbled["body"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_run_scripts_are_valid_bash(path: Path) -> None:
    for job_id, _, step in steps(load(path)):
        if "run" in step:
            # GitHub substitutes ${{ }} before bash sees the script; any word will do for a syntax check.
            script = re.sub(r"\$\{\{[^}]*\}\}", "x", step["run"])
            result = subprocess.run(["bash", "-n", "-c", script], capture_output=True, text=True, timeout=30)
            assert result.returncode == 0, f"{job_id}: {result.stderr}"


def test_the_projects_own_tests_run_on_every_push_without_secrets() -> None:
    workflow = by_name("test.yml")
    assert set(workflow["on"]) == {"push", "pull_request"} and not workflow["on"]["push"]  # every branch
    runs = [step["run"] for _, _, step in steps(workflow) if "run" in step]
    assert runs == ["bash .ci/run"]
    assert (ROOT / ".ci" / "run").is_file() and "python3 dev.py test" in (ROOT / ".ci" / "run").read_text()
    assert "secrets." not in (ROOT / ".github" / "workflows" / "test.yml").read_text()
    assert workflow["permissions"] == {"contents": "read"}


def run_secrets_check(workflow: dict[str, Any], secrets: dict[str, str], tmp_path: Path) -> tuple[str, str]:
    """Run the workflow's `secrets` job step with bash, secrets as GitHub would expand them: (outputs, stdout)."""
    [step] = workflow["jobs"]["secrets"]["steps"]
    output = tmp_path / "github_output"
    output.write_text("")
    env = {"PATH": os.environ["PATH"], "GITHUB_OUTPUT": str(output),
           **{name: secrets.get(name, "") for name in step["env"]}}
    result = subprocess.run(["bash", "-e", "-c", step["run"]], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return output.read_text(), result.stdout


@pytest.mark.parametrize("path", AZURE_WORKFLOWS, ids=lambda p: p.name)
def test_without_secrets_the_azure_jobs_skip_with_a_notice(path: Path, tmp_path: Path) -> None:
    workflow = load(path)
    outputs, notice = run_secrets_check(workflow, {}, tmp_path)
    assert outputs.strip() == "ready=false"
    assert notice.startswith("::notice title=") and "PULUMI_ACCESS_TOKEN" in notice and "AZURE_CLIENT_ID" in notice
    outputs, _ = run_secrets_check(workflow, {"PULUMI_ACCESS_TOKEN": "p", "AZURE_CLIENT_ID": "c"}, tmp_path)
    assert outputs.strip() == "ready=false"  # half configured is not configured
    everything = {"PULUMI_ACCESS_TOKEN": "p", "AZURE_CLIENT_ID": "c", "AZURE_TENANT_ID": "t", "AZURE_SUBSCRIPTION_ID": "s"}
    outputs, notice = run_secrets_check(workflow, everything, tmp_path)
    assert outputs.strip() == "ready=true" and notice == ""
    # every job that signs in to Azure waits for the check and runs only when it said ready
    for job_id, job in workflow["jobs"].items():
        signs_in = any(step.get("uses", "").startswith(("azure/login@", "pulumi/actions@")) for step in job["steps"])
        if signs_in and job_id != "promote-prod":  # promote-prod needs up-dev, which is skipped without secrets
            assert "secrets" in ([job["needs"]] if isinstance(job["needs"], str) else job["needs"]), job_id
            assert "needs.secrets.outputs.ready == 'true'" in job["if"], job_id
    if path.name == "deploy.yml":
        assert workflow["jobs"]["promote-prod"]["needs"] == "up-dev"


def test_the_deploy_job_outlasts_the_dev_stacks_training_timeout() -> None:
    """GitHub stops a hosted job at 360 minutes; the stack must give up following training before that."""
    workflow = by_name("deploy.yml")
    job_minutes = workflow["jobs"]["up-dev"]["timeout-minutes"]
    assert job_minutes <= 360
    stack = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())["config"]
    training = int(stack.get("aoai-finetune:trainingTimeoutMinutes",
                             yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]["trainingTimeoutMinutes"]["default"]))
    assert training + 20 <= job_minutes, "leave time for set-up, the deployment and the smoke test"
