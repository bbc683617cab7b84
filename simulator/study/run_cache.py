"""On-disk cache of finished runs, keyed by what determines them: the scenario as run (overrides
applied, defaults included), the content of the files it names (an empirical distribution's CSV),
the seed, the dsim version and the code itself (a digest of dsim's source files, so an edited
checkout never gets results computed by the code before the edit). A re-run or an extended sweep only computes what is new. Entries are
small JSON records (the figures a comparison needs)."""
from __future__ import annotations

import functools
import hashlib
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

MAX_ENTRY_BYTES = 64 << 20  # a record is a few kB (a long time series: a few MB)


def default_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dsim" / "runs"


def named_files(scenario_data: Any, base_dir: str | Path | None) -> dict[str, bytes | None]:
    """The content of every file the scenario names under a `file:` key (an empirical
    distribution's CSV), found as the run finds it: relative to the scenario's directory. None for
    a file that cannot be read (the run itself will say so)."""
    found: dict[str, bytes | None] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            name = node.get("file")
            if isinstance(name, str) and name not in found:
                path = Path(name)
                if not path.is_absolute() and base_dir is not None:
                    path = Path(base_dir) / path
                try:
                    found[name] = path.read_bytes()
                except OSError:
                    found[name] = None
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(scenario_data)
    return found


def file_digests(files: dict[str, bytes | None]) -> dict[str, str]:
    """sha256 of each named file's content: editing a file must not bring back old results."""
    return {name: "unreadable" if data is None else hashlib.sha256(data).hexdigest() for name, data in files.items()}


CODE_PACKAGES = ("simulator", "models")  # what computes a run (reports only draw it)


@functools.lru_cache(maxsize=None)
def code_fingerprint(root: str | None = None) -> str:
    """sha256 over the Python source of the packages that compute a run, by relative path: a
    version number does not change while a developer edits a checkout, this does. Read once per
    process (a few hundred kB)."""
    base = Path(root) if root is not None else Path(__file__).resolve().parents[2]
    h = hashlib.sha256()
    for package in CODE_PACKAGES:
        for path in sorted((base / package).rglob("*.py")):
            h.update(path.relative_to(base).as_posix().encode() + b"\0")
            h.update(path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def run_key(scenario_data: dict[str, Any], seed: int, version: str, files: dict[str, str] | None = None) -> str:
    """The cache key of one run; `files` maps each file the scenario names to its digest."""
    key: dict[str, Any] = {"scenario": scenario_data, "seed": seed, "dsim": version}
    if files:  # only when there are any, so the keys of runs that name no file stay as they were
        key["files"] = files
    text = json.dumps(key, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


class ResultCache:
    def __init__(self, directory: str | Path | None = None) -> None:
        self.dir = Path(directory) if directory is not None else default_dir()

    def _path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.json"

    def get(self, key: str, valid: Callable[[Any], bool] | None = None) -> dict[str, Any] | None:
        """The record stored under `key`, or None: missing, unreadable, truncated, too big for a
        record, not a regular file, or (with `valid`) not of the shape the caller needs. A bad
        entry is a miss: the run is computed again and its entry rewritten."""
        path = self._path(key)
        try:
            st = path.stat()
            if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_ENTRY_BYTES:
                return None  # a FIFO would block the read; a huge file is not a record
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            return None
        if not isinstance(record, dict) or (valid is not None and not valid(record)):
            return None
        return record

    def put(self, key: str, record: dict[str, Any]) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(record), encoding="utf-8")
            os.replace(tmp, path)  # atomic: a reader never sees half a file
        except OSError:
            pass  # a cache that cannot be written only costs time
