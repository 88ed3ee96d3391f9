"""A fine-tuning run as a pure function of its stored parameters and the clock.

Nothing advances in the background: status, steps, events, checkpoints and metrics are computed from the
job's timestamps every time they are read, so a restarted emulator continues a running job exactly where
the clock says it is. Pauses shift the rest of the run by their length.

Timeline (effective seconds e, i.e. wall time minus paused time, over `duration` = --training-seconds):
    [0, 10%)         pending  (files validated; a validation file in `error` fails the job at 10%)
    [10%, 100%)      running  (steps evenly spread; a checkpoint at each epoch end)
    100%             succeeded
Losses: a decaying exponential plus noise seeded by the job id, so every read (and every restart) sees the
same curve. valid_* only when the job has a validation file; full_valid_* only at epoch ends.

A DPO job reports preference figures instead of token accuracy: its loss starts near ln 2 (the model cannot yet
tell the two replies apart), `reward_accuracy` (how often the preferred reply scores higher) climbs from 0.5 and
`reward_margin` (by how much) grows, faster for a smaller beta. The names follow DPO's usual figures (accuracy
and margin of the implicit reward); the service's own column names for them are not documented.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from pipeline.dataset.methods import DEFAULT_BETA

PENDING_FRACTION = 0.1
MAX_METRIC_EVENTS = 1000  # longer runs report every n-th step in events (the results file has every step)
KEPT_CHECKPOINTS = 3
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
ACTIVE = frozenset({"pending", "running", "paused", "pausing", "resuming"})
RESULTS_HEADER = (
    "step,train_loss,train_mean_token_accuracy,valid_loss,valid_mean_token_accuracy,"
    "full_valid_loss,full_valid_mean_token_accuracy"
)
DPO_RESULTS_HEADER = (
    "step,train_loss,train_reward_accuracy,train_reward_margin,valid_loss,valid_reward_accuracy,valid_reward_margin,"
    "full_valid_loss,full_valid_reward_accuracy,full_valid_reward_margin"
)


def short_hash(*parts: Any) -> str:
    return hashlib.md5(":".join(str(p) for p in parts).encode()).hexdigest()


def default_batch_size(examples: int) -> int:
    """OpenAI's documented default: about 0.2% of the examples, between 1 and 256."""
    return max(1, min(256, round(examples * 0.002)))


@dataclass(frozen=True)
class Curve:
    train_loss: np.ndarray
    train_acc: np.ndarray
    valid_loss: np.ndarray
    valid_acc: np.ndarray


@lru_cache(maxsize=256)
def loss_curve(job_id: str, total_steps: int, seed: int) -> Curve:
    """Deterministic, decreasing-with-noise metrics for steps 1..total_steps (index 0 = step 1)."""
    rng = np.random.default_rng(int(short_hash(job_id, seed)[:16], 16))
    x = np.arange(1, total_steps + 1) / max(total_steps, 1)
    start, floor = 2.0 + rng.uniform(0, 0.6), 0.15 + rng.uniform(0, 0.15)
    train = floor + (start - floor) * np.exp(-4.0 * x) + rng.normal(0, 0.06, total_steps) * np.exp(-1.5 * x)
    train = np.clip(train, 0.01, None)
    valid = np.clip(train + 0.08 + rng.normal(0, 0.04, total_steps), 0.01, None)
    acc = lambda loss: np.clip(1.0 - loss / (start + 0.5), 0.0, 1.0)  # noqa: E731
    return Curve(train, acc(train), valid, acc(valid))


@dataclass(frozen=True)
class PreferenceCurve:
    loss: np.ndarray
    accuracy: np.ndarray
    margin: np.ndarray
    valid_loss: np.ndarray
    valid_accuracy: np.ndarray
    valid_margin: np.ndarray


@lru_cache(maxsize=256)
def preference_curve(job_id: str, total_steps: int, seed: int, beta: float) -> PreferenceCurve:
    """DPO figures for steps 1..total_steps: loss from ln 2 down, reward accuracy from 0.5 up, margin up."""
    rng = np.random.default_rng(int(short_hash(job_id, seed, "dpo")[:16], 16))
    x = np.arange(1, total_steps + 1) / max(total_steps, 1)
    speed = 3.0 + 0.2 / max(beta, 0.01)  # a small beta lets the policy move further from the reference
    progress = 1.0 - np.exp(-speed * x)
    top_accuracy = 0.82 + rng.uniform(0, 0.12)
    accuracy = np.clip(0.5 + (top_accuracy - 0.5) * progress + rng.normal(0, 0.03, total_steps), 0.0, 1.0)
    margin = np.clip((1.5 + rng.uniform(0, 1.5)) * progress + rng.normal(0, 0.08, total_steps), 0.0, None)
    loss = np.clip(math.log(2) * (1.0 - 0.75 * progress) + rng.normal(0, 0.02, total_steps), 0.01, None)
    valid_accuracy = np.clip(accuracy - 0.04 + rng.normal(0, 0.02, total_steps), 0.0, 1.0)
    valid_margin = np.clip(margin * 0.9, 0.0, None)
    valid_loss = np.clip(loss + 0.05 + rng.normal(0, 0.02, total_steps), 0.01, None)
    return PreferenceCurve(loss, accuracy, margin, valid_loss, valid_accuracy, valid_margin)


@dataclass
class Run:
    """The stored facts of one job that its progress is computed from."""

    job_id: str
    created_at: float
    duration: float
    examples: int
    n_epochs: int
    batch_size: int
    seed: int
    has_validation: bool
    fails_with: str | None  # a validation-file problem: the job fails when it would start running
    pauses: list[list[float]]  # [effective_at, wall_length] of finished pauses
    paused_at: list[float] | None  # [effective_at, wall_start] of the current pause
    cancelled_at: list[float] | None  # [effective_at, wall_time]
    method: str = "supervised"
    beta: float | None = None  # DPO only
    continued_from: str | None = None  # the fine-tuned model a continued job starts from

    # ---- shape -------------------------------------------------------------------------------------
    @property
    def steps_per_epoch(self) -> int:
        return max(1, math.ceil(self.examples / self.batch_size))

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.n_epochs

    @property
    def start_e(self) -> float:
        return self.duration * PENDING_FRACTION

    def step_e(self, step: int) -> float:
        """Effective time at which `step` completes."""
        return self.start_e + (self.duration - self.start_e) * step / self.total_steps

    # ---- time ----------------------------------------------------------------------------------------
    def effective(self, now: float) -> float:
        """Seconds of un-paused life at wall time `now`, frozen while paused or after a cancel."""
        if self.cancelled_at is not None:
            return self.cancelled_at[0]
        if self.paused_at is not None:
            return self.paused_at[0]
        return max(0.0, now - self.created_at - sum(length for _, length in self.pauses))

    def wall(self, e: float) -> float:
        """Wall time at which effective time `e` was (or will be) reached."""
        return self.created_at + e + sum(length for at, length in self.pauses if at <= e)

    def status(self, now: float) -> str:
        e = self.effective(now)
        if self.fails_with is not None and e >= self.start_e:
            return "failed"
        if self.cancelled_at is not None:
            return "cancelled"
        if e >= self.duration:
            return "succeeded"
        if self.paused_at is not None:
            return "paused"
        return "pending" if e < self.start_e else "running"

    def steps_done(self, now: float) -> int:
        e = self.effective(now)
        if e < self.start_e or self.fails_with is not None:
            return 0
        if e >= self.duration:
            return self.total_steps
        return min(self.total_steps, int(self.total_steps * (e - self.start_e) / (self.duration - self.start_e)))

    def finished_at(self, now: float) -> float | None:
        status = self.status(now)
        if status == "succeeded":
            return self.wall(self.duration)
        if status == "failed":
            return self.wall(self.start_e)
        if status == "cancelled" and self.cancelled_at is not None:
            return self.cancelled_at[1]
        return None

    def estimated_finish(self, now: float) -> float | None:
        return self.wall(self.duration) if self.status(now) in {"pending", "running"} else None

    # ---- metrics -------------------------------------------------------------------------------------
    def curve(self) -> Curve:
        return loss_curve(self.job_id, self.total_steps, self.seed)

    def metrics(self, step: int, *, full: bool = False) -> dict[str, float]:
        if self.method == "dpo":
            return self._preference_metrics(step, full=full)
        c, i = self.curve(), step - 1
        out = {"step": float(step), "train_loss": round(float(c.train_loss[i]), 5),
               "train_mean_token_accuracy": round(float(c.train_acc[i]), 5)}
        if self.has_validation:
            out["valid_loss"] = round(float(c.valid_loss[i]), 5)
            out["valid_mean_token_accuracy"] = round(float(c.valid_acc[i]), 5)
            if full:
                out["full_valid_loss"] = round(float(c.valid_loss[i]) + 0.01, 5)
                out["full_valid_mean_token_accuracy"] = round(float(c.valid_acc[i]), 5)
        return out

    def _preference_metrics(self, step: int, *, full: bool) -> dict[str, float]:
        c, i = preference_curve(self.job_id, self.total_steps, self.seed, self.beta or DEFAULT_BETA), step - 1
        out = {"step": float(step), "train_loss": round(float(c.loss[i]), 5),
               "train_reward_accuracy": round(float(c.accuracy[i]), 5),
               "train_reward_margin": round(float(c.margin[i]), 5)}
        if self.has_validation:
            valid = {"loss": c.valid_loss[i], "reward_accuracy": c.valid_accuracy[i], "reward_margin": c.valid_margin[i]}
            out.update({f"valid_{k}": round(float(v), 5) for k, v in valid.items()})
            if full:
                out.update({f"full_valid_{k}": round(float(v), 5) for k, v in valid.items()})
        return out

    @property
    def results_header(self) -> str:
        return DPO_RESULTS_HEADER if self.method == "dpo" else RESULTS_HEADER

    def epoch_end_steps(self) -> list[int]:
        return [self.steps_per_epoch * epoch for epoch in range(1, self.n_epochs + 1)]

    def results_csv(self) -> str:
        """The `fine-tune-results` file: one row per step; valid_* empty without a validation file,
        full_valid_* only at epoch ends."""
        epoch_ends = set(self.epoch_end_steps())
        header = self.results_header
        lines = [header]
        for step in range(1, self.total_steps + 1):
            m = self.metrics(step, full=step in epoch_ends)
            cells = [str(step)] + [
                "" if key not in m else f"{m[key]:.5f}"
                for key in header.split(",")[1:]
            ]
            lines.append(",".join(cells))
        return "\n".join(lines) + "\n"

    # ---- checkpoints -----------------------------------------------------------------------------------
    def checkpoints(self, now: float, fine_tuned_model: str) -> list[dict[str, Any]]:
        """One per finished epoch, the last three kept, newest first."""
        done = self.steps_done(now)
        steps = [s for s in self.epoch_end_steps() if s <= done][-KEPT_CHECKPOINTS:]
        return [
            {
                "object": "fine_tuning.job.checkpoint",
                "id": "ftchkpt-" + short_hash(self.job_id, "checkpoint", step),
                "created_at": int(self.wall(self.step_e(step))),
                "fine_tuned_model_checkpoint": checkpoint_model(fine_tuned_model, step),
                "fine_tuning_job_id": self.job_id,
                "step_number": step,
                "metrics": self.metrics(step, full=True),
            }
            for step in reversed(steps)
        ]

    # ---- events --------------------------------------------------------------------------------------
    def events(self, now: float, files: dict[str, str | None], fine_tuned_model: str) -> list[dict[str, Any]]:
        """Everything that has happened so far, oldest first (the API serves them newest first)."""
        out: list[dict[str, Any]] = []
        e_now = self.effective(now)
        status = self.status(now)

        def add(key: str, e: float, message: str, *, level: str = "info", kind: str = "message",
                data: dict[str, Any] | None = None, wall: float | None = None) -> None:
            out.append({
                "object": "fine_tuning.job.event", "id": "ftevent-" + short_hash(self.job_id, key),
                "created_at": int(wall if wall is not None else self.wall(e)), "level": level, "message": message,
                "type": kind, "data": data,
            })

        add("created", 0, f"Created fine-tuning job: {self.job_id}")
        add("validating", 0, f"Validating training file: {files['training']}"
            + (f" and validation file: {files['validation']}" if files.get("validation") else ""))
        if e_now < self.start_e:
            return self._with_pause_events(out, add)
        if self.fails_with is not None:
            add("failed", self.start_e, f"Fine-tuning job failed: {self.fails_with}", level="error")
            return out
        add("validated", self.start_e, "Files validated, moving job to queued state")
        if self.continued_from:
            add("continues", self.start_e, f"Continuing training from fine-tuned model: {self.continued_from}")
        if self.method == "dpo":
            add("method", self.start_e, f"Training with direct preference optimization (DPO), beta="
                f"{self.beta or DEFAULT_BETA:g}")
        add("started", self.start_e, "Fine-tuning job started")
        done = self.steps_done(now)
        stride = max(1, math.ceil(self.total_steps / MAX_METRIC_EVENTS))
        epoch_ends = set(self.epoch_end_steps())
        for step in range(1, done + 1):
            if step % stride == 0 or step == self.total_steps or step in epoch_ends:
                m = self.metrics(step)
                text = f"Step {step}/{self.total_steps}: training loss={m['train_loss']:.2f}"
                if "train_reward_accuracy" in m:
                    text += (f", reward accuracy={m['train_reward_accuracy']:.2f}, "
                             f"reward margin={m['train_reward_margin']:.2f}")
                if "valid_loss" in m:
                    text += f", validation loss={m['valid_loss']:.2f}"
                add(f"metrics:{step}", self.step_e(step), text, kind="metrics",
                    data={**m, "total_steps": self.total_steps})
            if step in epoch_ends:
                add(f"checkpoint:{step}", self.step_e(step), f"Checkpoint created at step {step}")
        self._with_pause_events(out, add)
        if status == "cancelled" and self.cancelled_at is not None:
            add("cancelled", self.cancelled_at[0], "Fine-tuning job cancelled", wall=self.cancelled_at[1])
        if status == "succeeded":
            add("model", self.duration, f"New fine-tuned model created: {fine_tuned_model}")
            add("completed", self.duration, "The job has successfully completed")
        out.sort(key=lambda ev: ev["created_at"])
        return out

    def _with_pause_events(self, out: list[dict[str, Any]], add: Any) -> list[dict[str, Any]]:
        earlier = 0.0  # wall length of the pauses before this one
        for index, (at, length) in enumerate(self.pauses):
            paused_wall = self.created_at + at + earlier
            add(f"paused:{index}", at, "Fine-tuning job paused", wall=paused_wall)
            add(f"resumed:{index}", at, "Fine-tuning job resumed", wall=paused_wall + length)
            earlier += length
        if self.paused_at is not None:
            add(f"paused:{len(self.pauses)}", self.paused_at[0], "Fine-tuning job paused", wall=self.paused_at[1])
        return out


def checkpoint_model(fine_tuned_model: str, step: int) -> str:
    """Azure's checkpoint model name: `<fine-tuned model>:ckpt-step-<N>`."""
    return f"{fine_tuned_model}:ckpt-step-{step}"
