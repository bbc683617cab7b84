"""Run one measurement in a fresh interpreter (so each has its own peak memory and no warm caches
from another) and read back the JSON line it prints last."""
from __future__ import annotations

import json
import subprocess
import sys
from typing import Any


def run_code(code: str, *args: Any) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *map(str, args)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])
