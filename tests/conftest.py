import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import os

# Tests refer to ready scenarios by their path in the repository.
os.chdir(ROOT)

# Property-based tests are derandomized so that CI is reproducible; set DSIM_FUZZ_RANDOM=1 to
# explore new examples locally.
from hypothesis import settings  # noqa: E402

settings.register_profile("dsim", derandomize=not os.environ.get("DSIM_FUZZ_RANDOM"), database=None)
settings.load_profile("dsim")
