"""Where the project's shared reference folder is: `../shared` beside the clone (as on developer machines and in
CI), or AOAI_FT_SHARED_DIR."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("AOAI_FT_SHARED_DIR") or ROOT.parent / "shared")
SPECS = SHARED / "reference" / "specs"
MAKE_DATASET = SHARED / "bench" / "make_dataset.py"
SEED = SHARED / "seed" / "000_a128679f2ec49d3a.txt"
