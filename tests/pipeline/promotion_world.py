"""What a trained dev stack exports, as the promotion tests (library and CLI) read it."""
from __future__ import annotations

from pipeline import envnames

MODEL = "gpt-4o-mini-2024-07-18.ft-0123456789abcdef0123456789abcdef"
DEV_ACCOUNT = ("/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg-aoai-finetune-dev/providers/"
               "Microsoft.CognitiveServices/accounts/aoai-finetune-1a2b3c")
SMOKE_ANSWER = "Artificial intelligence is the simulation of human intelligence by machines."
DEV_OUTPUTS = {
    envnames.FINE_TUNED_MODEL: MODEL,
    envnames.EVAL_PASS_RATE: 0.75, envnames.EVAL_BASE_PASS_RATE: 0.0, envnames.EVAL_RUN_ID: "evalrun_dev",
    envnames.AZURE_OPENAI_ACCOUNT_ID: DEV_ACCOUNT,
    envnames.AZURE_OPENAI_DEPLOYMENT: "gpt-4o-mini-2024-07-18-ft",
    envnames.SMOKE_TEST_ANSWER: SMOKE_ANSWER,
    envnames.AZURE_OPENAI_ENDPOINT: "https://aoai-finetune-1a2b3c.openai.azure.com/",
}
