"""The lab's Task 9 smoke test as code: the teacher system message, one few-shot example, then the question."""
from __future__ import annotations

import openai

from pipeline.clients import describe_api_error, service_errors
from pipeline.errors import ServiceError

SYSTEM_MESSAGE = "The system is an AI teacher that helps people learn about AI"
FEW_SHOT_QUESTION = "What are the different types of artificial intelligence?"
FEW_SHOT_ANSWER = (
    "There are three main types of artificial intelligence: Narrow or Weak AI (such as virtual assistants like "
    "Siri or Alexa, image recognition software, and spam filters), General or Strong AI (AI designed to be as "
    "intelligent as a human being. This type of AI does not currently exist and is purely theoretical), and "
    "Artificial Superintelligence (AI that is more intelligent than any human being and can perform tasks that "
    "are beyond human comprehension. This type of AI is also purely theoretical and has not yet been developed)."
)
SMOKE_TEST_QUESTION = "What is artificial intelligence?"


def smoke_test_messages(question: str = SMOKE_TEST_QUESTION, *, few_shot: bool = True) -> list[dict[str, str]]:
    """System message, the lab's few-shot pair (optional), then `question`."""
    messages = [{"role": "system", "content": SYSTEM_MESSAGE}]
    if few_shot:
        messages += [{"role": "user", "content": FEW_SHOT_QUESTION},
                     {"role": "assistant", "content": FEW_SHOT_ANSWER}]
    messages.append({"role": "user", "content": question})
    return messages


def chat_interrupted(deployment: str) -> tuple[str, str]:
    """(message, hint) for Ctrl-C while waiting for `ask`: one request, nothing left running."""
    return (f"deployment {deployment} had not answered yet; nothing goes on in the service (a request it already "
            "received may still be billed for its tokens)", "run the same `aoai-ft chat` command again to ask again")


def ask(
    client: openai.AzureOpenAI,
    deployment: str,
    question: str = SMOKE_TEST_QUESTION,
    *,
    few_shot: bool = True,
    max_tokens: int | None = 400,
    temperature: float | None = 0,
) -> str:
    """The deployment's answer; an empty answer or a failed call is a `ServiceError`."""
    kwargs: dict[str, object] = {}
    if max_tokens is not None:
        kwargs["max_tokens"] = max_tokens
    if temperature is not None:
        kwargs["temperature"] = temperature
    with service_errors(f"asking deployment {deployment!r}"):
        try:
            completion = client.chat.completions.create(
                model=deployment, messages=smoke_test_messages(question, few_shot=few_shot), **kwargs  # type: ignore[arg-type]
            )
        except openai.NotFoundError as exc:
            raise ServiceError(f"deployment {deployment!r} is not available: {describe_api_error(exc)}",
                               hint="check --deployment; a new deployment can take a few minutes to serve "
                                    "(`aoai-ft deploy` waits for it)") from exc
    choice = completion.choices[0] if completion.choices else None
    answer = (choice.message.content or "").strip() if choice and choice.message else ""
    if not answer:
        reason = choice.finish_reason if choice else "no choices"
        raise ServiceError(f"deployment {deployment!r} returned an empty answer (finish_reason: {reason})",
                           hint="a content filter or a too small max_tokens can cause this")
    return answer
