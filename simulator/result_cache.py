"""On-disk cache of finished runs, keyed by what determines them: the scenario as run (overrides
applied, defaults included), the seed and the dsim version. A re-run or an extended sweep only
computes what is new. Entries are small JSON records (the figures a comparison needs)."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any


def default_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dsim" / "runs"


def run_key(scenario_data: dict[str, Any], seed: int, version: str) -> str:
    text = json.dumps({"scenario": scenario_data, "seed": seed, "dsim": version}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


class ResultCache:
    def __init__(self, directory: str | Path | None = None) -> None:
        self.dir = Path(directory) if directory is not None else default_dir()

    def _path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            return json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # missing or unreadable: compute it again

    def put(self, key: str, record: dict[str, Any]) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(record), encoding="utf-8")
            os.replace(tmp, path)  # atomic: a reader never sees half a file
        except OSError:
            pass  # a cache that cannot be written only costs time
