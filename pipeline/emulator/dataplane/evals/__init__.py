"""The Evals API of the emulated account (`/openai/v1/evals`, as Azure OpenAI serves it; also below `/openai`
with a preview api-version): evals, runs, output items and cancel, in Azure's error envelope.

Module map: routes (the HTTP surface), schema (item schema), templates ({{item.x}} / {{sample.output_text}}),
graders (testing criteria), runner (sampling the deployment and grading), store (sqlite + the run's clock).
"""
