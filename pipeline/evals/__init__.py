"""Evaluate deployments on a held-out set with the service's Evals API, and gate promotion on the result.

Modules: dataset (held-out JSONL -> items), criteria (testing criteria from a short text), client (the v1
surface), runner (eval and runs, adopted when they exist), report (table, JSON, PNG, answers), gate (the bar).
"""
from pipeline.evals.criteria import DEFAULT_CRITERIA, parse_criteria
from pipeline.evals.dataset import EvalDataset, load_eval_dataset
from pipeline.evals.gate import EvalFigures, QualityBar, QualityGateFailed, check_quality, figures_from_outputs
from pipeline.evals.runner import DeploymentResult, EvalReport, evaluate

__all__ = ["DEFAULT_CRITERIA", "DeploymentResult", "EvalDataset", "EvalFigures", "EvalReport", "QualityBar",
           "QualityGateFailed", "check_quality", "evaluate", "figures_from_outputs", "load_eval_dataset",
           "parse_criteria"]
