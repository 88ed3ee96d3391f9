"""The emulator's own dependencies (a web server, multipart parsing, spec validation, the eval graders) come with
the `[emulator]` extra, so a CLI user does not pull a web server. Importing `pipeline.emulator` without them is
one clear error naming the extra, which the CLI prints as a single `Error:` line."""
from __future__ import annotations

import importlib.util
import sys
from typing import Final

from pipeline.errors import UsageError

INSTALL: Final = "pip install 'aoai-finetune[emulator]'"
# import name -> distribution, for every requirement of the extra (pyproject.toml `emulator`)
MODULES: Final = {
    "fastapi": "fastapi", "uvicorn": "uvicorn", "python_multipart": "python-multipart", "jsonschema": "jsonschema",
    "rapidfuzz": "rapidfuzz", "sacrebleu": "sacrebleu", "rouge_score": "rouge-score",
}


class EmulatorNotInstalled(UsageError):
    """The `[emulator]` extra is missing."""


def _missing(module: str) -> bool:
    if module in sys.modules:
        return sys.modules[module] is None  # None: an import of it was blocked
    return importlib.util.find_spec(module) is None


def require_extra() -> None:
    """Raise `EmulatorNotInstalled` naming what is missing and the one command that installs it."""
    missing = [dist for module, dist in MODULES.items() if _missing(module)]
    if missing:
        raise EmulatorNotInstalled(f"the emulator needs {', '.join(missing)} (the [emulator] extra): {INSTALL}")
