"""`aoai-ft chat`: the lab's smoke test (Task 9) against a deployment, or your own question."""
from __future__ import annotations

import click

from pipeline import envnames
from pipeline.chat import SMOKE_TEST_QUESTION
from pipeline.commands._options import connection_options


@click.command("chat")
@click.argument("question", required=False, default=SMOKE_TEST_QUESTION)
@click.option("--deployment", "-d", envvar=envnames.AZURE_OPENAI_DEPLOYMENT, show_envvar=True, required=True,
              metavar="NAME", help="Deployment to ask.")
@click.option("--few-shot/--no-few-shot", default=True, show_default=True,
              help="Include the lab's example (types of AI) before the question.")
@click.option("--max-tokens", type=click.IntRange(min=1), default=400, show_default=True,
              help="Most tokens the answer may use; the service cuts the answer off there.")
@connection_options
def chat(question: str, deployment: str, few_shot: bool, max_tokens: int, client_factory) -> None:
    """Ask QUESTION (default: "What is artificial intelligence?") with the AI-teacher system message.

    Prints the answer; exits non-zero when the call fails or the answer is empty.

    \b
    Examples:
      aoai-ft chat --deployment teacher
      aoai-ft chat -d teacher "What is machine learning?" --no-few-shot
    """
    from pipeline.chat import ask, chat_interrupted
    from pipeline.errors import on_ctrl_c

    client = client_factory()
    with on_ctrl_c(lambda: chat_interrupted(deployment)):
        answer = ask(client, deployment, question, few_shot=few_shot, max_tokens=max_tokens)
    click.echo(answer)
