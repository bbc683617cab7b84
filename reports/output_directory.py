"""An output directory is complete and consistent, or untouched.

`run --out` and `compare --out` write every file into a staging directory beside the target
(`.NAME.dsim-XXXXXXXX`), write `manifest.json` (each file's size and sha256) and only then put the
staging directory in the target's place in one step: `rename` when the target does not exist, an
atomic exchange (`renameat2(RENAME_EXCHANGE)`, Linux) when it does. So a run killed or failing
half-way (a signal, a full disk) leaves the old directory as it was, and two runs into one
directory at once leave the files of one of them, never a mixture. `dsim report` checks the
manifest, so a directory whose files were changed or mixed afterwards is refused.

An existing target is replaced whole, so it must hold only what dsim writes there: a directory
with other files (or the current directory) is refused before anything runs.
"""
from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from simulator.language.errors import DsimError, ScenarioError
from simulator.version import __version__

MANIFEST = "manifest.json"
# Written from the other files and rewritten by `dsim report`: not in the manifest.
DERIVED = ("report.html",)
REPORT_TMP = ".report.html."  # report.html is written under this prefix, then moved in place
# Files a dsim older than the manifest wrote (with its charts, *.png and *.svg).
_LEGACY = {"summary.json", "requests.parquet", "timeseries.csv", "components.csv", "scenario.yaml",
           "comparison.json", "replications.csv", "variants.csv", "differences.csv", MANIFEST, *DERIVED}
_MANIFEST_LIMIT = 1 << 20  # a manifest lists a few dozen files; anything bigger was not written by dsim


class OutputError(DsimError):
    """A file of an output directory could not be written (a full disk, a permission)."""

    exit_code = 1


def check_target(out: str | Path, label: str | None = None) -> None:
    """Refuse, before any run, an output path dsim cannot replace: a file or device, the current
    directory, a directory with files dsim did not write, a parent that cannot be written.
    Errors are located at `label` (the flag, `--out`) or the path."""
    where = label or str(out)
    p = Path(out)
    if p.exists() and not p.is_dir():
        raise ScenarioError(f"{out} exists and is not a directory", file=where)
    if p.is_dir():
        real, cwd = p.resolve(), Path.cwd().resolve()
        if real == cwd or real in cwd.parents:
            raise ScenarioError(f"{out} is the current directory or contains it; an output directory is "
                                f"replaced whole: give a new directory", file=where)
        foreign = _foreign_entries(real)
        if foreign:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            raise ScenarioError(f"{out} holds files dsim did not write there ({shown}); an output directory is "
                                f"replaced whole: give a new directory or one dsim wrote", file=where)
    parent = p.resolve().parent if p.is_dir() else Path(os.path.abspath(p)).parent
    for ancestor in [parent, *parent.parents]:
        if ancestor.exists():
            if not ancestor.is_dir():
                raise ScenarioError(f"cannot create the directory: {ancestor} is not a directory", file=where)
            break
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ScenarioError(f"cannot create the directory: {exc.strerror or exc}", file=where) from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ScenarioError(f"cannot write in {parent} (the output is prepared there, then moved in place)",
                            file=where)


def _foreign_entries(d: Path) -> list[str]:
    """Names in `d` that dsim did not write: not in its manifest (or, without one, not a name dsim uses)."""
    listed = _listed_names(d)
    out = []
    for entry in sorted(os.scandir(d), key=lambda e: e.name):
        if entry.name.startswith(REPORT_TMP):
            continue  # a report.html being written (or left by a killed `dsim report`)
        if not entry.is_file(follow_symlinks=False):
            out.append(entry.name + "/" if entry.is_dir(follow_symlinks=False) else entry.name)
        elif listed is not None:
            if entry.name not in listed and entry.name not in (MANIFEST, *DERIVED):
                out.append(entry.name)
        elif entry.name not in _LEGACY and not entry.name.endswith((".png", ".svg")):
            out.append(entry.name)
    return out


def _listed_names(d: Path) -> set[str] | None:
    try:
        files = read_manifest(d)
    except ScenarioError:
        return None  # unreadable: judged by names, as a directory without one
    return None if files is None else set(files)


@contextmanager
def staged(out: str | Path, label: str | None = None) -> Iterator[Path]:
    """A staging directory to write every output file into; on leaving without an error its manifest
    is written (unless already there) and it replaces `out` in one step. On an error or an
    interrupt it is removed and `out` is left as it was."""
    check_target(out, label)
    target = Path(os.path.abspath(out))
    if target.is_dir():
        target = target.resolve()  # a symbolic link: its directory is replaced
    stage = target.parent / f".{target.name}.dsim-{secrets.token_hex(4)}"
    stage.mkdir()  # the umask's permissions (a temporary directory's would be 0700)
    try:
        if target.is_dir():
            os.chmod(stage, target.stat().st_mode & 0o7777)
        yield stage
        if not (stage / MANIFEST).exists():
            write_manifest(stage, target)
        _install(stage, target, label)
    finally:
        # After an exchange the staging path holds the old directory; before it, a partial new one:
        # either way it goes. (Best effort: what is left is a hidden directory, not the output.)
        shutil.rmtree(stage, ignore_errors=True)


def _install(stage: Path, target: Path, label: str | None) -> None:
    try:
        os.rename(stage, target)  # the target is absent (or an empty directory)
        return
    except OSError as exc:
        if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
            raise OutputError(f"cannot move the output into place at {target}: {exc.strerror}") from None
    check_target(target, label)  # still only dsim's files (another run may have put its own there)
    if _exchange(stage, target):
        return
    # No atomic exchange here (not Linux, or a file system without it): two renames, and the old
    # directory is put back if the second cannot be made.
    old = stage.with_name(stage.name + "-old")
    os.rename(target, old)
    try:
        os.rename(stage, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2); False where the system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OutputError(f"cannot move the output into place at {b}: {os.strerror(err)}")


def write_file(path: Path, write: Callable[[Path], Any], shown: Path | None = None) -> Path:
    """Call `write(path)`; a failure (a full disk) becomes one line naming the file (`shown`: the
    name the user knows, in the output directory rather than the staging one)."""
    try:
        write(path)
    except OSError as exc:
        shown = shown or path
        if exc.filename and Path(os.fsdecode(exc.filename)).parent == path.parent:  # a chart, say
            shown = shown.parent / Path(os.fsdecode(exc.filename)).name
        raise OutputError(f"cannot write {shown}: {exc.strerror or exc}") from None
    return path


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(d: Path, shown: Path | None = None) -> Path:
    """`d/manifest.json`: every file of `d` (report.html aside) with its size and sha256."""
    files = {}
    for p in sorted(d.iterdir()):
        if p.name in (MANIFEST, *DERIVED) or not p.is_file():
            continue
        files[p.name] = {"bytes": p.stat().st_size, "sha256": _digest(p)}
    text = json.dumps({"written_by": f"dsim {__version__}", "files": files}, indent=2) + "\n"
    return write_file(d / MANIFEST, lambda p: p.write_text(text, encoding="utf-8"), (shown or d) / MANIFEST)


def read_manifest(d: Path) -> dict[str, dict[str, Any]] | None:
    """The files `d/manifest.json` lists (None when there is none: a directory of a dsim before it)."""
    path = d / MANIFEST
    if not path.exists():
        return None
    try:
        if not path.is_file() or path.stat().st_size > _MANIFEST_LIMIT:
            raise ValueError("not a small regular file")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise ScenarioError(f"not readable: {exc}", file=str(path)) from None
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict) or not all(
            isinstance(name, str) and "/" not in name and name not in (MANIFEST, "", ".", "..")
            and isinstance(e, dict) and isinstance(e.get("bytes"), int) and isinstance(e.get("sha256"), str)
            for name, e in files.items()):
        raise ScenarioError("not a manifest dsim wrote (it maps file names to their bytes and sha256)",
                            file=str(path))
    return files


def verify(d: Path) -> set[str] | None:
    """The names of the files of `d`, checked against its manifest (None without one). A file
    missing or not as listed means the directory mixes runs or was changed: refused."""
    files = read_manifest(d)
    if files is None:
        return None
    for name, entry in files.items():
        p = d / name
        if not p.is_file():
            reason = "missing"
        elif p.stat().st_size != entry["bytes"] or _digest(p) != entry["sha256"]:
            reason = "changed"
        else:
            continue
        raise ScenarioError(f"{reason} since {MANIFEST} was written: the directory mixes runs or was edited; "
                            f"write it again with --out", file=str(p))
    return set(files)
