"""`aoai-ft demo`: the whole lab, offline, in well under a minute, against an in-process emulator."""
from __future__ import annotations

from pathlib import Path
from typing import Final

import click

from pipeline.commands._options import console

DEFAULT_OUT: Final = Path("out") / "demo"


@click.command("demo")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_OUT,
              show_default=True, help="Where to write loss.png and eval.png.")
@click.option("--datasets", "datasets_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder with training_set.jsonl and validation_set.jsonl (default: the project's datasets/).")
@click.option("--training-seconds", type=click.FloatRange(0.5, 120), default=6.0, show_default=True,
              help="How long the emulated training job runs.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the emulator's state in this folder (default: a temporary one, removed afterwards).")
def demo(out_dir: Path, datasets_dir: Path | None, training_seconds: float, data_dir: Path | None) -> None:
    """Run the whole fine-tuning flow offline against a local emulator, then remove everything it made.

    Validates the datasets (stats and cost estimate), creates an Azure OpenAI account through the emulator's
    Resource Manager plane, uploads, trains with live progress, deploys the fine-tuned model and the base model,
    asks both "What is artificial intelligence?", evaluates both on the validation set (pass rates and
    eval.png), writes the loss curves PNG, tears everything down and prints a summary. No Azure account, key or network needed.

    \b
    Examples:
      aoai-ft demo
      aoai-ft demo --out /tmp/demo --training-seconds 3
    """
    from pipeline.demo import DemoOptions, default_datasets, run_demo
    from pipeline.errors import check_output

    check_output(out_dir, option="--out", directory=True)  # before anything starts: the pictures come last
    if data_dir is not None:
        check_output(data_dir, option="--data-dir", directory=True)
    options = DemoOptions(out_dir=out_dir, datasets_dir=datasets_dir or default_datasets(),
                          training_seconds=training_seconds, data_dir=data_dir)
    run_demo(options, console())
