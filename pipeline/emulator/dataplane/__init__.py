"""Data plane of the emulated Azure OpenAI account: files, fine-tuning jobs, models and chat completions.

Module map: routes/ (one router per resource, mounted under every account prefix), dependencies (what a route
declares: its `Context` and the `Plane`), context (prefix/api-version/auth resolution), access (network rules,
credentials, roles), plane (the stores, built together), files (store + processing), jobs (create/cancel/
pause/settle) with job_rows (typed rows) and job_request (the body), simulation (progress, metrics, events,
checkpoints as a function of the clock), catalog (/models), chat (answers), chat_request (its checks),
learning (simulated held-out skill), training (use of the dataset library), http (response/paging helpers),
evals/ (the Evals API: its router, store, runner and graders).
"""
