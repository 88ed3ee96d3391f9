"""What an emulated fine-tuned model "learned", so held-out evaluations tell good training data from bad.

The emulator cannot generalize: a fine-tuned deployment answers from its training examples (`chat.NearestAnswer`),
which says little about questions it never saw. Yet the point of an evaluation is exactly those questions, and a
quality gate is only testable if a model trained on good data does better on them than the base model, while a
model trained on the same questions with shuffled answers does not. So held-out quality is simulated from two
measured facts:

- coherence of the training data: the share of training examples whose answer is about its own question (its
  content words overlap that question at least as much as any other question in the file). The sample data
  scores about 0.75; the same file with shuffled answers 0.00-0.05. What a random pairing scores by chance
  (`CHANCE`) does not count as learned: skill = (coherence - CHANCE) / (1 - CHANCE), at least 0.
- progress: a checkpoint at step N of T has learned N/T of it (so earlier checkpoints evaluate worse).

For a question from the job's own validation file (held out from training, and what the stack evaluates on),
a deterministic share `skill * progress` of questions (chosen by a hash of the question) is answered
with a light paraphrase of that file's answer, as a model that generalized would; the rest fall back to the
nearest training answer. Questions from anywhere else always get the nearest training answer.
"""
from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pipeline.emulator.models import ModelCatalog
from pipeline.emulator.dataplane.chat import words
from pipeline.emulator.dataplane.files import FileStore
from pipeline.emulator.dataplane.jobs import JobStore
from pipeline.emulator.dataplane.training import question_answer_pairs

STOP_WORDS: Final = frozenset(
    "a an the is are was were be been of to in on for and or not what how why when where does do did can could would "
    "should which who whom this that these those it its with as by from at into about your you i me my we our their "
    "they them give example explain mean means between difference use used using".split())
CHECKPOINT = re.compile(r":ckpt-step-(\d+)$")
CHANCE: Final = 0.1


def content_words(text: str) -> frozenset[str]:
    return frozenset(w for w in words(text) if w not in STOP_WORDS and len(w) > 2)


def coherence(pairs: list[tuple[str, str]]) -> float:
    """Share of (question, answer) pairs whose answer overlaps its own question at least as much as any other."""
    if not pairs:
        return 0.0
    questions = [content_words(q) for q, _ in pairs]
    hits = 0
    for index, (_, answer) in enumerate(pairs):
        terms = content_words(answer)
        overlaps = [len(q & terms) / (len(q) or 1) for q in questions]
        hits += overlaps[index] > 0 and overlaps[index] >= max(overlaps)
    return hits / len(pairs)


def unit_hash(*parts: str) -> float:
    """A stable number in [0, 1) per input (the same model and question always draw the same)."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def paraphrase(text: str, seed: str) -> str:
    """The answer as a model that learned it might put it: a few words dropped, deterministic per seed."""
    tokens = text.split(" ")
    if len(tokens) < 6:
        return text
    kept = [t for i, t in enumerate(tokens) if i == 0 or unit_hash(seed, str(i), t) >= 0.12]
    return " ".join(kept)


@dataclass(frozen=True)
class Learned:
    """One model's simulated held-out knowledge: validation answers by normalized question, and its skill."""

    held_out: dict[str, str]
    skill: float  # learned share x progress, in [0, 1]

    def answer(self, model: str, question: str) -> str | None:
        reference = self.held_out.get(_key(question))
        # by the question alone, not the model's (random) name: the same data answers the same questions on every
        # run, and a checkpoint with less progress answers a subset of what the final model answers
        if reference is None or unit_hash(_key(question)) >= self.skill:
            return None
        return paraphrase(reference, _key(question))


def _key(question: str) -> str:
    return " ".join(words(question))


class Learning:
    """`generalize(model, question)` for the chat responder; computed once per model and cached."""

    def __init__(self, models: ModelCatalog, jobs: JobStore, files: FileStore) -> None:
        self.models, self.jobs, self.files = models, jobs, files
        self._cache: dict[str, Learned | None] = {}
        self._lock = threading.Lock()

    def generalize(self, model: str, question: str) -> str | None:
        learned = self.learned(model)
        return learned.answer(model, question) if learned is not None else None

    def learned(self, model: str) -> Learned | None:
        if model in self._cache:
            return self._cache[model]
        with self._lock:
            if model not in self._cache:
                self._cache[model] = self._compute(model)
            return self._cache[model]

    def _compute(self, model: str) -> Learned | None:
        training = self.models.training_data_of(model)
        found = self.models.get_fine_tuned(model) if training is not None else None
        if training is None or found is None or not training.exists():
            return None
        job = self.jobs.get(found.account, found.job_id)
        validation = self.files.get(found.account, job.validation_file) if job and job.validation_file else None
        if validation is None or not Path(validation.path).exists():
            return None
        progress = 1.0
        step = CHECKPOINT.search(model)
        if step is not None and job is not None:
            progress = min(1.0, int(step.group(1)) / max(1, job.run().total_steps))
        held_out = {_key(q): a for q, a in question_answer_pairs(Path(validation.path))}
        learned = max(0.0, (coherence(question_answer_pairs(training)) - CHANCE) / (1 - CHANCE))
        return Learned(held_out=held_out, skill=learned * progress)
