"""`SmokeTest`: the lab's Task 9 inside `pulumi up` - ask the new deployment the teacher question, keep the answer.

A dynamic resource so the answer lands in state (and in the stack output SMOKE_TEST_ANSWER). It asks on create
and again whenever an input changes (a new deployment, model, question, endpoint), so a retrained model is always
smoke-tested. An empty or failed answer fails the `pulumi up`. A deployment that ARM reports Succeeded can still
answer 404 for a short while, so the ask is retried for `timeout_seconds`.

Like `FineTunedModel`, the provider keeps no state of its own (it is unpickled with dill in the provider
process); the key is a secret property and listed in `additional_secret_outputs`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider, UpdateResult

RESOURCE_TYPE: Final = "pulumi-python:dynamic/aoai-finetune:SmokeTest"
DEFAULT_TIMEOUT_SECONDS: Final = 600.0
RETRY_SECONDS: Final = 10.0


def ask_until_answered(props: dict[str, Any], *, sleep_seconds: float = RETRY_SECONDS) -> str:
    """`pipeline.chat.ask`, retried while the deployment is not serving yet (404) until the timeout."""
    import time

    from pipeline.chat import ask
    from pipeline.clients import ConnectionSettings, openai_client
    from pipeline.errors import ServiceError

    client = openai_client(ConnectionSettings(endpoint=props["endpoint"], api_key=props.get("api_key") or None))
    deadline = time.monotonic() + float(props.get("timeout_seconds") or DEFAULT_TIMEOUT_SECONDS)
    while True:
        try:
            return ask(client, props["deployment_name"], props["question"], few_shot=bool(props.get("few_shot", True)))
        except ServiceError as exc:
            not_serving_yet = "is not available" in exc.message
            if not not_serving_yet or time.monotonic() + sleep_seconds > deadline:
                raise
            pulumi.log.info(f"smoke test: deployment {props['deployment_name']} is not serving yet, retrying")
            time.sleep(sleep_seconds)


class SmokeTestProvider(ResourceProvider):
    """Asks once per create/update; delete has nothing to remove."""

    serialize_as_secret_always = False

    def create(self, props: dict[str, Any]) -> CreateResult:
        answer = ask_until_answered(props)
        pulumi.log.info(f"smoke test answer from {props['deployment_name']}: {answer[:200]}")
        return CreateResult(id_=f"smoke-test/{props['deployment_name']}", outs={**props, "answer": answer})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = any(olds.get(k) != v for k, v in news.items() if k not in ("answer", "__provider"))
        return DiffResult(changes=changed, replaces=[], delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs={**news, "answer": ask_until_answered(news)})


@dataclass
class SmokeTestArgs:
    """Which deployment to ask what. `model` is only a trigger: a new model re-runs the test."""

    endpoint: pulumi.Input[str]
    api_key: pulumi.Input[str] | None
    deployment_name: pulumi.Input[str]
    question: str
    model: pulumi.Input[str] | None = None
    few_shot: bool = True
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS


class SmokeTest(Resource, module="aoai-finetune", name="SmokeTest"):
    """The deployment's answer to `question` (output `answer`)."""

    answer: pulumi.Output[str]

    def __init__(self, resource_name: str, args: SmokeTestArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        props: dict[str, Any] = {
            "endpoint": args.endpoint,
            "api_key": pulumi.Output.secret(args.api_key) if args.api_key is not None else None,
            "deployment_name": args.deployment_name,
            "question": args.question,
            "model": args.model,
            "few_shot": args.few_shot,
            "timeout_seconds": args.timeout_seconds,
            "answer": None,
        }
        secret = pulumi.ResourceOptions(additional_secret_outputs=["api_key"])
        super().__init__(SmokeTestProvider(), resource_name, props, pulumi.ResourceOptions.merge(secret, opts))
