"""A sweep: an Optuna study over a config's ranges, stored where several workers can share it.

    deepsci sweep CONFIG.toml --trials N [--storage URL] [--study NAME] [--out runs] [--metric M]

The study lives in an Optuna storage: by default a SQLite file in the sweep's folder
(`runs/<study>.sweep/study.db`), or any storage URL Optuna's RDB storage takes; a PostgreSQL URL
(`postgresql+psycopg://user:password@host/db`) lets workers on several machines add trials to one
study, each worker running N trials, every trial with a number of its own. Trials are drawn by
Optuna's TPE sampler and stopped early by its median pruner; results are read back from the storage,
so the summary of any worker covers the whole study.
"""

from __future__ import annotations

import json
import re
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from deepsci.errors import ConfigError, TrainingError
from deepsci.folder import check_out
from deepsci.sweep.space import Range, check_space, parse_space
from deepsci.sweep.trial import Direction, direction_of, run_name, run_trial

if TYPE_CHECKING:
    import optuna

NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]*"  # the pattern of a run name (deepsci.config.Config.name)
STORAGE_ATTEMPTS = 5  # workers that start together race to create the storage's tables: the losers retry
# A running trial's worker writes a heartbeat to the storage this often (seconds). A RUNNING trial whose heartbeat
# is older than the grace period belongs to a worker that died without marking it (SIGKILL, the out-of-memory
# killer, a lost machine): the next trial any worker of the study starts marks it failed (Optuna's
# fail_stale_trials), so the study never keeps a trial running forever.
HEARTBEAT_SECONDS = 10
GRACE_SECONDS = 60
#: file systems (Linux's names in /proc/self/mounts, after any "fuse.") where SQLite's write-ahead log is unsafe
NETWORK_FILE_SYSTEMS = ("nfs", "nfs4", "cifs", "smb3", "smbfs", "sshfs", "lustre", "gpfs", "ceph", "glusterfs",
                        "9p", "beegfs", "afs", "davfs")


@dataclass(frozen=True)
class SweepSetup:
    """What every trial of one sweep shares: the raw config, its ranges, where runs go, what is optimised."""

    raw: dict[str, Any]
    ranges: list[Range]
    out: Path
    study: str
    metric: str
    direction: Direction
    storage: str
    source: str = "config"

    @property
    def folder(self) -> Path:
        """`out/<study>.sweep/`: the study's SQLite file (by default), trials.csv, best.toml, report.html."""
        return self.out / f"{self.study}.sweep"


def prepare_sweep(raw: dict[str, Any], *, out: str | Path = "runs", storage: str | None = None,
                  study: str | None = None, metric: str = "loss", source: str = "config") -> SweepSetup:
    """Check everything a sweep needs before its first trial: the ranges and the config at each edge of
    each range, the metric, the study name and the output folder.

    Raises:
        ConfigError / DataError: one line naming the problem and the fix.
    """
    raw = _plain_trials(raw)
    ranges = parse_space(raw, source)
    check_space(raw, ranges, source)
    direction = direction_of(metric)
    name = study if study is not None else str(raw.get("name"))
    if not re.fullmatch(NAME_PATTERN, name):
        raise ConfigError(f"--study {name!r} cannot name run folders: use letters, digits, '_', '.' or '-', "
                          "starting with a letter or digit.")
    out = Path(out)
    check_out(out, run_name(name, 999))
    url = storage if storage is not None else _default_storage(out, name)
    return SweepSetup(raw=raw, ranges=ranges, out=out, study=name, metric=metric, direction=direction,
                      storage=url, source=source)


def _plain_trials(raw: dict[str, Any]) -> dict[str, Any]:
    """The raw config with trials of one plain network unless it names an uncertainty method: trials are compared
    on their validation split, which the default error bars (`method = "auto"`: CV+ members, each early-stopped
    on its own fold) do without. Fit the best config (best.toml) with the method wanted for its error bars."""
    section = raw.get("uncertainty")
    if section is None or (isinstance(section, dict) and "method" not in section):
        return {**raw, "uncertainty": {**(section or {}), "method": "none"}}
    return raw


def run_sweep(setup: SweepSetup, trials: int, *, seed: int | None = None, pruner: Any = None,
              progress: bool = True, take: Callable[[], bool] | None = None) -> "optuna.Study":
    """Run `trials` trials of the study (adding to those it has) and return the study.

    Args:
        setup: from `prepare_sweep`.
        trials: trials this worker runs; other workers on the same storage add their own.
        seed: seeds the sampler (default the config's seed, or 0 where the seed is searched); trial k
            draws from (seed, k), so a fresh sweep repeats itself, a resumed one goes on, and workers
            sharing a study draw apart.
        pruner: an Optuna pruner (default: `MedianPruner()`, Optuna's defaults; `NopPruner()` prunes none).
        progress: print one line per finished trial on stderr.
        take: for a worker that shares a count of trials with others (`deepsci sweep --jobs`): asked before
            each trial; the worker stops at the first no (or after `trials` trials).

    Raises:
        ConfigError: the storage cannot be opened, or holds a study of this name that searched another
            space or metric. DeepSciError from a trial whose config or data fails (a trial whose training
            diverges is recorded as failed and the sweep goes on).
    """
    import optuna

    if seed is None:  # the config's seed, unless the seed is itself searched
        seed = setup.raw.get("seed", 0) if isinstance(setup.raw.get("seed", 0), int) else 0
    study = open_study(setup, seed=seed, pruner=optuna.pruners.MedianPruner() if pruner is None else pruner)
    callbacks = [_print_trial(setup)] if progress else []

    def objective(trial: "optuna.trial.Trial") -> float:
        return run_trial(trial, setup.raw, setup.ranges, out=setup.out, study=setup.study, metric=setup.metric,
                         source=setup.source)

    if take is None:
        study.optimize(objective, n_trials=trials, catch=(TrainingError,), callbacks=callbacks)
        return study
    for _ in range(trials):
        if not take():
            break
        study.optimize(objective, n_trials=1, catch=(TrainingError,), callbacks=callbacks)
    return study


def open_study(setup: SweepSetup, *, seed: int, pruner: Any) -> "optuna.Study":
    """Create the study in its storage, or load it where a worker created it already.

    A study of this name that searched other ranges or another metric is refused: its trials could not
    be compared with the new ones.
    """
    import optuna

    from deepsci.sweep.sampler import TrialSeededTPE  # imports Optuna, an optional dependency: on use

    storage = _open_storage(setup.storage)
    try:
        study = optuna.create_study(storage=storage, study_name=setup.study, direction=setup.direction,
                                    sampler=TrialSeededTPE(seed), pruner=pruner, load_if_exists=True)
    except ValueError as exc:
        raise ConfigError(f"study '{setup.study}' in {redact(setup.storage)} cannot be used: {exc}. Name a new "
                          "study with --study.") from None
    search = {"space": {r.name: _range_text(r) for r in setup.ranges}, "metric": setup.metric}
    known = study.user_attrs.get("search")
    if known is None:  # one attribute, written at once: a worker never reads half of another's
        study.set_user_attr("search", search)
    elif known != search:
        raise ConfigError(f"study '{setup.study}' in {redact(setup.storage)} searched {known['space']} for "
                          f"{known['metric']}; this config searches {search['space']} for {setup.metric}. Name a "
                          "new study with --study, or use the config that study was made with.")
    return study


def redact(url: str) -> str:
    """A storage URL with its password hidden, fit for a terminal, a CSV or a page."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


# -- storage --------------------------------------------------------------------------------------------
def _default_storage(out: Path, study: str) -> str:
    folder = out / f"{study}.sweep"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(folder / 'study.db').resolve()}"


def _open_storage(url: str) -> Any:
    """Optuna's RDB storage at `url`; its tables are created on first use.

    Raises:
        ConfigError: a URL SQLAlchemy cannot read, a database driver that is not installed, or a
            database that cannot be reached.
    """
    import optuna
    import sqlalchemy.exc

    # SQLite serialises writers with a file lock: a worker waits up to a minute for another's write.
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    _check_sqlite_folder(url)
    attempt = 0
    while True:
        try:
            with warnings.catch_warnings():  # Optuna calls heartbeats "experimental": nothing for the user to do
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                storage = optuna.storages.RDBStorage(url, engine_kwargs=engine, heartbeat_interval=HEARTBEAT_SECONDS,
                                                     grace_period=GRACE_SECONDS)
            _write_ahead(storage, url)
            return storage
        except sqlalchemy.exc.ArgumentError:
            raise ConfigError(f"--storage {redact(url)!r} is not a database URL; write e.g. "
                              "postgresql+psycopg://user:password@host:5432/db or sqlite:///runs/study.db.") from None
        except ImportError as exc:  # Optuna re-raises the driver's ModuleNotFoundError as an ImportError
            module = getattr(exc.__cause__, "name", None) or getattr(exc, "name", None) or "its driver"
            raise ConfigError(f"--storage {redact(url)} needs the database driver '{module}', which is not "
                              "installed. For PostgreSQL: pip install 'psycopg[binary]' and a URL "
                              "postgresql+psycopg://user:password@host:5432/db.") from None
        except (sqlalchemy.exc.SQLAlchemyError, RuntimeError) as exc:
            attempt += 1
            if attempt == STORAGE_ATTEMPTS:
                reason = " ".join(str(getattr(exc, "orig", exc)).split())[:300]
                raise ConfigError(f"cannot open the study storage {redact(url)}: {reason}. Check that the database "
                                  "server runs and the URL's host, port, user and database are right.") from None
            time.sleep(0.2 * attempt)


def _write_ahead(storage: Any, url: str) -> None:
    """A SQLite study on a local disk in write-ahead-log mode (`journal_mode=WAL`, `synchronous=NORMAL`).

    A trial writes its loss and reads the others' at every epoch. In SQLite's default rollback journal every
    write is two fsyncs and shuts out readers, so `--jobs` workers queue behind each other's epochs, each wait a
    sleep of 1 to 100 ms; with a write-ahead log readers and the writer go on together and a write syncs at
    checkpoints only (a power cut may lose the last epochs' values, never the file). The log needs memory shared
    through the file system, which network file systems do not give: there, and where the disk cannot be told
    (not Linux), the file keeps SQLite's default.
    """
    import sqlalchemy
    import sqlalchemy.engine

    database = sqlalchemy.engine.make_url(url).database if url.startswith("sqlite") else None
    if not database or database == ":memory:" or not _on_local_disk(Path(database)):
        return

    def pragmas(connection: Any, record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # kept in the file: a no-op once set
        cursor.execute("PRAGMA synchronous=NORMAL")  # per connection
        cursor.close()

    sqlalchemy.event.listen(storage.engine, "connect", pragmas)
    storage.engine.dispose()  # the connections Optuna opened before the listener: closed, so every one has them


def _on_local_disk(path: Path, table: Path = Path("/proc/self/mounts")) -> bool:
    """Whether `path` lies on a local file system (the longest mount point above it in the mount `table` is not
    a network one); False where that cannot be told."""
    try:
        mounts = [line.split() for line in table.read_text().splitlines()]
    except OSError:
        return False
    target = str(path.expanduser().absolute())
    point, kind = "", ""
    for fields in mounts:
        if len(fields) < 3:
            continue
        mount = fields[1].replace("\\040", " ")
        inside = target == mount or target.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= len(point):
            point, kind = mount, fields[2]
    return bool(point) and kind.split(".")[-1] not in NETWORK_FILE_SYSTEMS


def _check_sqlite_folder(url: str) -> None:
    """A ConfigError when `url` is an SQLite file in a folder that does not exist (SQLite creates the file, never
    its folder; its "unable to open database file" would be told as a server that does not run)."""
    import sqlalchemy.engine
    import sqlalchemy.exc

    try:
        parsed = sqlalchemy.engine.make_url(url)
    except sqlalchemy.exc.ArgumentError:
        return  # told by the caller, with the URL forms to write
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return
    folder = Path(str(parsed.database)).expanduser().absolute().parent
    if not folder.is_dir():
        raise ConfigError(f"--storage {redact(url)}: the folder '{folder}' of the SQLite file does not exist; SQLite "
                          f"creates the file but not its folder. Create it (mkdir -p '{folder}') or name a file in an "
                          "existing folder.")


def _range_text(r: Range) -> str:
    if r.choices is not None:
        return "choices " + json.dumps(list(r.choices), default=str)
    return f"{r.low}..{r.high}" + (" log" if r.log else "") + (f" step {r.step}" if r.step not in (None, 1) else "")


def _print_trial(setup: SweepSetup) -> Any:
    """An Optuna callback that prints one line per finished trial on stderr."""

    def show(study: "optuna.Study", trial: "optuna.trial.FrozenTrial") -> None:
        state = trial.state.name.lower()
        what = (f"{setup.metric} {trial.value:.4g}" if trial.state.name == "COMPLETE"
                else trial.user_attrs.get("note", ""))
        params = ", ".join(f"{k}={v}" for k, v in trial.params.items())
        where = f" -> {setup.out / trial.user_attrs['run']}" if "run" in trial.user_attrs else ""
        print(f"trial {trial.number}: {state}, {what} ({params}){where}", file=sys.stderr, flush=True)

    return show
