"""The aoai-finetune guardrails policy pack (see policies.py). A package only so tests can import it; the
Pulumi CLI runs this directory's __main__.py directly."""
