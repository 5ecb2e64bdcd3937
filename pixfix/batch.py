"""Many files: directory walk, output planning, a worker pool, progress, report.

The pieces are separate so that scaling out changes no algorithm code:

* :func:`plan` turns input paths into :class:`Task` (input file, output file)
  pairs, mirroring directory trees and refusing collisions before any work.
* :func:`up_to_date` marks tasks whose output is newer than the input and the
  config files (resumable runs).
* :func:`run` feeds tasks to :func:`pixfix.jobs.run_task` in-process (one job),
  through a joblib loky pool, or through joblib's Dask backend, and yields the
  small :class:`~pixfix.jobs.FileResult` records as they finish.  Workers get
  paths and a frozen config; image arrays never cross process boundaries.
* :func:`execute` ties these together with a tqdm bar, failure lines, a
  summary line and a JSON/CSV report, and returns the exit code.
"""
from __future__ import annotations

import csv
import fnmatch
import io
import json
import os
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path, PurePath
from typing import Callable, Iterable, Iterator, Optional, Sequence

import numpy as np

from .config import Config
from .imageio import IMAGE_SUFFIXES, write_text
from .jobs import FileResult, run_task

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
REPORT_FIELDS = ("input", "output", "status", "error", "cell_x", "cell_y", "grid_w", "grid_h",
                 "colors_before", "colors_after", "confidence", "seconds")
# imageio.atomic_write names its temporary files ".<name>.<8 random chars>.part"
TEMP_RE = re.compile(r"^\.(?P<name>.+)\.[A-Za-z0-9_]{8}\.part$")


class UsageError(ValueError):
    """A problem with the command line found before any work (exit code 2)."""


@dataclass(frozen=True)
class Task:
    """One input file and where its result goes (``out`` is None for ``check``)."""

    src: Path
    out: Optional[Path]


@dataclass
class Plan:
    tasks: list[Task]
    ignored: int = 0          # hidden files, non-images, files not matching --glob


# ---------------------------------------------------------------- planning

def walk(root: Path, pattern: Optional[str] = None, exclude: Sequence[Path] = ()) -> tuple[list[Path], int]:
    """Image files under ``root`` (sorted, recursive, symlinked folders not followed) and a count of ignored ones.

    Hidden entries, files without an image suffix and files not matching
    ``pattern`` (matched against the path relative to ``root``, from the right,
    so ``*.png`` and ``sprites/*.png`` both work) are ignored.  Non-regular
    entries with an image name (broken links, FIFOs) are kept: they fail
    visibly instead of vanishing.  Folders in ``exclude`` (an output folder
    inside the input) are not entered.
    """
    found: list[Path] = []
    ignored = 0
    skip = {os.path.realpath(p) for p in exclude}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        keep = []
        for d in dirnames:
            full = os.path.join(dirpath, d)
            if d.startswith(".") or os.path.realpath(full) in skip or os.path.islink(full):
                ignored += 1
            else:
                keep.append(d)
        dirnames[:] = keep
        for name in sorted(filenames):
            f = Path(dirpath) / name
            rel = f.relative_to(root)
            if name.startswith(".") or f.suffix.lower() not in IMAGE_SUFFIXES:
                ignored += 1
            elif pattern and not PurePath(rel).match(pattern) and not fnmatch.fnmatch(name, pattern):
                ignored += 1
            else:
                found.append(f)
    return found, ignored


def plan(inputs: Sequence[Path], output: Optional[Path], *, pattern: Optional[str] = None,
         default_suffix: str = "_pixfix", writes: bool = True) -> Plan:
    """Map inputs to outputs; raise :class:`UsageError` for anything wrong, before any work.

    * one input file and ``output`` not an existing folder: ``output`` is the file
      (default ``IN<default_suffix>.png`` beside the input);
    * otherwise ``output`` is a folder; a folder input's tree is mirrored under it
      (``OUT/rel/path/name.png``), a file input lands at ``OUT/name.png``;
    * without ``output``, file inputs get ``IN<default_suffix>.png`` beside them
      and folder inputs are refused (pixfix never writes into an input folder
      unless ``-o`` points there);
    * two inputs mapping to one output, or an output equal to an input, is an error.
    """
    if not inputs:
        raise UsageError("no input files or folders given")
    for p in inputs:
        if not (p.exists() or p.is_symlink()):
            raise UsageError(f"{p}: no such file or directory")
    tasks: list[Task] = []
    ignored = 0
    single_file = len(inputs) == 1 and not inputs[0].is_dir()
    if not writes:
        for p in inputs:
            if p.is_dir():
                files, n = walk(p, pattern)
                tasks += [Task(f, None) for f in files]
                ignored += n
            else:
                tasks.append(Task(p, None))
        return Plan(tasks, ignored)
    if single_file and (output is None or not output.is_dir()):
        out = output if output is not None else inputs[0].with_name(inputs[0].stem + default_suffix + ".png")
        if out.suffix.lower() != ".png":
            raise UsageError(f"{out}: output must be a .png file (or an existing folder)")
        tasks.append(Task(inputs[0], out))
    else:
        if output is not None and output.exists() and not output.is_dir():
            raise UsageError(f"{output}: not a folder (several inputs or a folder need an output folder)")
        for p in inputs:
            if p.is_dir():
                if output is None:
                    raise UsageError(f"{p}: is a folder; give an output folder with -o "
                                     "(pixfix does not write into input folders unless -o points there)")
                files, n = walk(p, pattern, exclude=[output])
                ignored += n
                tasks += [Task(f, output / f.relative_to(p).with_suffix(".png")) for f in files]
            elif output is None:
                tasks.append(Task(p, p.with_name(p.stem + default_suffix + ".png")))
            else:
                tasks.append(Task(p, output / (p.stem + ".png")))
    check_collisions(tasks)
    return Plan(tasks, ignored)


def check_collisions(tasks: Sequence[Task]) -> None:
    """Two inputs writing one output, or an output that is an input: a usage error."""
    inputs = {os.path.realpath(t.src): t.src for t in tasks}
    seen: dict[str, Path] = {}
    for t in tasks:
        if t.out is None:
            continue
        key = os.path.realpath(t.out)
        if key in inputs:
            raise UsageError(f"{t.out}: output would overwrite the input file {inputs[key]}")
        if key in seen:
            raise UsageError(f"{seen[key]} and {t.src} would both write {t.out}")
        seen[key] = t.src


def up_to_date(task: Task, deps: Sequence[Path] = ()) -> bool:
    """The output exists and is newer than the input and every dependency (config, palette file)."""
    if task.out is None:
        return False
    try:
        out_m = task.out.stat().st_mtime_ns
        newest = max([os.stat(task.src).st_mtime_ns] + [os.stat(d).st_mtime_ns for d in deps])
    except OSError:
        return False
    return out_m > newest


def clean_temps(tasks: Iterable[Task]) -> int:
    """Remove temporary files (``.NAME.xxxxxxxx.part``) that belong to these tasks' outputs.

    A worker killed mid-write (Ctrl-C, OOM killer) can leave one behind; only
    temporaries of our own outputs and their sidecars are touched.
    """
    by_dir: dict[Path, set[str]] = {}
    for t in tasks:
        if t.out is not None:
            by_dir.setdefault(t.out.parent, set()).add(t.out.stem)
    removed = 0
    for folder, stems in by_dir.items():
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            m = TEMP_RE.match(name)
            if m and any(m.group("name").startswith(s) for s in stems):
                try:
                    os.unlink(folder / name)
                    removed += 1
                except OSError:
                    pass
    return removed


# ---------------------------------------------------------------- running

def _dask_client(scheduler: Optional[str]):
    """A ``distributed.Client`` for ``scheduler``, or a UsageError with a one-line reason."""
    try:
        from distributed import Client
    except ImportError:
        raise UsageError("--backend dask needs the dask extra: pip install 'pixfix[dask]'") from None
    if not scheduler:
        raise UsageError("--backend dask needs --scheduler ADDRESS (e.g. tcp://host:8786)")
    try:
        return Client(scheduler, timeout="10s", set_as_default=False)
    except Exception as exc:  # OSError, TimeoutError, ValueError for bad addresses
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"--scheduler {scheduler}: cannot connect ({reason})") from None


def run(kind: str, tasks: Sequence[Task], config: Config, fixed_palette: Optional[np.ndarray] = None,
        stop_after: Optional[str] = None, jobs: int = 0, backend: str = "loky",
        client=None) -> Iterator[tuple[int, FileResult]]:
    """Yield ``(task index, record)`` as each task finishes, in completion order.

    ``jobs`` <= 0 means all cores.  One job (or one task) runs in this process,
    with no pool start-up.  ``backend="dask"`` needs a ``distributed.Client``.
    """
    if not tasks:
        return
    n_jobs = jobs if jobs > 0 else (os.cpu_count() or 1)
    args = [(kind, str(t.src), None if t.out is None else str(t.out), config, fixed_palette, stop_after)
            for t in tasks]
    if backend == "loky" and (n_jobs == 1 or len(tasks) == 1):
        for i, a in enumerate(args):
            yield i, run_task(*a)
        return
    from joblib import Parallel, delayed, parallel_config

    if backend == "dask":
        if client is None:
            raise UsageError("--backend dask needs --scheduler ADDRESS")
        with parallel_config(backend="dask", client=client, wait_for_workers_timeout=30):
            par = Parallel(n_jobs=-1, return_as="generator_unordered", batch_size=1)
            yield from par(delayed(_indexed_task)(i, a) for i, a in enumerate(args))
        return
    # loky: worker processes are reused across calls; thread pools capped inside run_task
    par = Parallel(n_jobs=min(n_jobs, len(tasks)), backend="loky", return_as="generator_unordered",
                   batch_size=1, pre_dispatch="2*n_jobs")
    yield from par(delayed(_indexed_task)(i, a) for i, a in enumerate(args))


def _indexed_task(i: int, args: tuple) -> tuple[int, FileResult]:
    return i, run_task(*args)


@dataclass
class Outcome:
    """Everything a batch produced, in input order."""

    records: list[FileResult]
    ignored: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    startup: Optional[float] = None   # seconds until the first result arrived

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.records)

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_FAILED if self.count("failed") else EXIT_OK

    def summary(self) -> dict:
        done = self.count("ok") + self.count("failed")
        return {"ok": self.count("ok"), "failed": self.count("failed"), "skipped": self.count("skipped"),
                "not_run": self.count("not run"), "ignored": self.ignored, "seconds": round(self.seconds, 3),
                "files_per_second": round(done / self.seconds, 3) if self.seconds > 0 else None,
                "interrupted": self.interrupted}

    def summary_line(self) -> str:
        s = self.summary()
        rate = f", {s['files_per_second']:.1f} files/s" if s["files_per_second"] else ""
        extra = f", {s['not_run']} not run (interrupted)" if s["not_run"] else ""
        return (f"{s['ok']} ok, {s['failed']} failed, {s['skipped']} skipped (up to date), "
                f"{s['ignored']} ignored (hidden or not images){extra}; {s['seconds']:.1f} s{rate}")


def _progress(total: int, quiet: bool):
    from tqdm import tqdm

    disable = quiet or not sys.stderr.isatty()
    return tqdm(total=total, unit="file", file=sys.stderr, disable=disable, dynamic_ncols=True,
                smoothing=0.1)


def execute(kind: str, plan_: Plan, config: Config, *, fixed_palette: Optional[np.ndarray] = None,
            stop_after: Optional[str] = None, jobs: int = 0, backend: str = "loky",
            scheduler: Optional[str] = None, client=None, overwrite: bool = False, deps: Sequence[Path] = (),
            quiet: bool = False, report: Optional[Path] = None,
            on_record: Optional[Callable[[FileResult], None]] = None,
            echo: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> Outcome:
    """Run a planned batch end to end: skip up-to-date outputs, run the rest, report.

    Failures are printed as ``pixfix: <file>: <problem>`` as they happen; Ctrl-C
    stops the pool (loky workers are killed), removes temporary files of the
    unfinished outputs and marks them "not run", so a rerun finishes the rest.
    """
    t0 = time.perf_counter()
    tasks = plan_.tasks
    records: list[Optional[FileResult]] = [None] * len(tasks)
    todo: list[int] = []
    for i, t in enumerate(tasks):
        if not overwrite and up_to_date(t, deps):
            records[i] = FileResult(str(t.src), str(t.out), "skipped")
        else:
            todo.append(i)
    if backend == "dask" and todo and client is None:
        client = _dask_client(scheduler)
    clean_temps(tasks[i] for i in todo)  # leftovers of an earlier, killed run
    for i in todo:
        out = tasks[i].out
        if out is not None:
            try:
                out.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                records[i] = FileResult(str(tasks[i].src), None, "failed",
                                        f"{out}: cannot create output folder {out.parent} ({exc.strerror or exc})")
    todo = [i for i in todo if records[i] is None]
    failed_so_far = sum(r is not None and r.status == "failed" for r in records)
    for r in records:
        if r is not None and r.status == "failed":
            echo(f"pixfix: {r.error}")
    bar = _progress(len(tasks), quiet)
    bar.update(len(tasks) - len(todo))
    interrupted = False
    startup = None
    sub = [tasks[i] for i in todo]
    try:
        for j, rec in run(kind, sub, config, fixed_palette, stop_after, jobs, backend, client):
            if startup is None:
                startup = time.perf_counter() - t0
            records[todo[j]] = rec
            if rec.status == "failed":
                failed_so_far += 1
                msg = f"pixfix: {rec.error}"
                if bar.disable:
                    echo(msg)
                else:
                    bar.write(msg, file=sys.stderr)
                bar.set_postfix(failed=failed_so_far, refresh=False)
            if on_record is not None:
                on_record(rec)
            bar.update(1)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
        if interrupted or any(r is None for r in records):
            clean_temps(t for t, r in zip(tasks, records) if r is None)
    if backend == "dask" and client is not None and scheduler:
        try:
            client.close()
        except Exception:
            pass
    final = [r if r is not None else FileResult(str(t.src), None, "not run", "interrupted")
             for t, r in zip(tasks, records)]
    outcome = Outcome(final, plan_.ignored, time.perf_counter() - t0, interrupted, startup)
    if report is not None:
        write_report(report, outcome, config, kind)
    return outcome


# ---------------------------------------------------------------- reports

def _row(rec: FileResult) -> dict:
    return {k: getattr(rec, k) for k in REPORT_FIELDS}


def write_report(path: Path, outcome: Outcome, config: Config, command: str) -> None:
    """One record per input file: ``.json`` (with summary and effective config) or ``.csv``."""
    from . import __version__

    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(REPORT_FIELDS) + ["problems"], lineterminator="\n")
        w.writeheader()
        for r in outcome.records:
            w.writerow({**_row(r), "problems": " | ".join(r.extra.get("problems", []))})
        write_text(path, buf.getvalue())
        return
    files = []
    for r in outcome.records:
        d = asdict(r)
        d.update(d.pop("extra"))
        files.append(d)
    doc = {"pixfix": __version__, "command": command, "summary": outcome.summary(),
           "config": config.to_dict(), "files": files}
    write_text(path, json.dumps(doc, indent=1))


def check_report_path(path: Optional[Path]) -> None:
    """Refuse report names we cannot write before any work."""
    if path is None:
        return
    if path.suffix.lower() not in (".json", ".csv"):
        raise UsageError(f"--report {path}: must end in .json or .csv")
    if path.exists() and path.is_dir():
        raise UsageError(f"--report {path}: is a folder")
