"""How many intra-op threads a deepsci process takes, so that fits sharing a machine do not slow each other.

torch gives each process one intra-op thread per core. Two processes that each take every core make small
kernels wait for each other at every barrier: a GRU step goes from 5 ms to 102 ms (DESIGN.md, "Threads when
the machine is shared"). The choice, in this order:

1. An explicit setting wins: `[train] threads` (the `setting`), else `OMP_NUM_THREADS` in the environment,
   else a `torch.set_num_threads(n)` the caller made (a thread count deepsci did not set).
2. A step too small to gain from a second thread runs on one: its work (MFLOP, counted by torch on one
   forward pass, times 3 for the backward) under its model family's threshold `THRESHOLD_MFLOP`, measured by
   benchmarks/thread_threshold.py (benchmarks/results/thread_threshold.json).
3. Otherwise the process takes its share of the cores really available to it (CPU affinity and a cgroup CPU
   quota, not `os.cpu_count()`), divided among the deepsci processes running on this machine.

The running processes are counted through a registry: one file per process in `<cache>/processes/`
(`$DEEPSCI_CACHE` or `~/.cache/deepsci`), on which the process holds an exclusive `flock`. The kernel drops
the lock when the process ends, however it ends (a kill included), so a file whose lock can be taken belongs
to a dead process: it is not counted, and is removed. A fit looks again at every epoch and takes a larger or
smaller share as others start and finish. Where `fcntl` is missing (Windows) every process counts itself
alone.

On a CPU the thread count changes only the order of reductions in convolutions and recurrences
(docs/scale.md): one seed gives the same metrics at any thread count for dense networks.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, ParamSpec, TypeVar

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from deepsci.data.batch import Inputs, forward, n_rows, take
from deepsci.errors import ConfigError, DeepSciError
from deepsci.training.callbacks import Callback

try:  # POSIX only; elsewhere the registry is off and every process counts itself alone
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["FAMILIES", "THRESHOLD_MFLOP", "ShareCores", "ThreadChoice", "ThreadShare", "available_cores",
           "check_threads", "choose_threads", "explicit_threads", "live_processes", "registry_dir", "reserve_share",
           "share_threads", "sharing_cores", "step_mflop", "take_share"]

#: Per model family, the step size (MFLOP, forward + backward) from which a second thread pays: the
#: `threshold_mflop` of benchmarks/results/thread_threshold.json (a test holds the two equal).
#: A family where a second thread never gained up to the largest size measured (recurrent, graph) gets that size.
THRESHOLD_MFLOP: dict[str, float] = {"dense": 15.778, "conv": 116.791, "recurrent": 86.274, "attention": 201.523,
                                     "sets": 96.608, "graph": 235.954}
#: model.kind -> family of THRESHOLD_MFLOP (a kind not listed counts as dense)
FAMILIES: dict[str, str] = {"mlp": "dense", "multi": "dense", "cnn": "conv", "rnn": "recurrent",
                            "seq2seq": "recurrent", "charlm": "recurrent", "transformer": "attention",
                            "set-transformer": "attention", "deepsets": "sets", "dmpnn": "graph", "gin": "graph",
                            "ugrnn": "graph", "reaction": "graph"}
P = ParamSpec("P")
R = TypeVar("R")
_PROBE_ROWS = 32  # rows of the batch whose work is counted (the count is scaled to the real batch size)


@dataclass(frozen=True)
class ThreadChoice:
    """The threads a process takes and why, as metrics.json records it (`environment.threads`).

    Attributes:
        threads: intra-op threads.
        reason: one phrase: the explicit setting, the small step, or the share of the cores.
        cores: cores available to the process (affinity and cgroup quota).
        processes: deepsci processes counted on this machine, this one included.
        step_mflop: forward + backward work of one training step (None: not a fit, or not countable).
        explicit: whether a user's setting decided.
    """

    threads: int
    reason: str
    cores: int
    processes: int
    step_mflop: float | None = None
    explicit: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"threads": self.threads, "reason": self.reason, "cores": self.cores, "processes": self.processes,
                "step_mflop": self.step_mflop, "explicit": self.explicit}


# -- the cores -------------------------------------------------------------------------------------------
def available_cores() -> int:
    """Cores this process may run on: its CPU affinity, capped by a cgroup CPU quota (rounded up), at least 1."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = cgroup_quota()
    if quota is not None:
        cores = min(cores, max(1, math.ceil(quota)))
    return max(1, cores)


def cgroup_quota(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """The CPU quota of this process's cgroup in cores (v2 `cpu.max`, v1 `cpu.cfs_quota_us / period`);
    None when there is none."""
    v2 = _read(root / "cpu.max")
    if v2 is not None:
        quota, _, period = v2.partition(" ")
        return None if quota == "max" or not period else int(quota) / int(period)
    for folder in (root / "cpu", root / "cpu,cpuacct"):
        quota_us, period_us = _read(folder / "cpu.cfs_quota_us"), _read(folder / "cpu.cfs_period_us")
        if quota_us is not None and period_us is not None and int(quota_us) > 0 and int(period_us) > 0:
            return int(quota_us) / int(period_us)
    return None


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, ValueError):
        return None


# -- explicit settings -----------------------------------------------------------------------------------
_set_by_deepsci: int = torch.get_num_threads()  # the count deepsci last saw or set: any other is the caller's


def check_threads(value: int, what: str = "train.threads") -> int:
    """`value` if it is a usable thread count, else a ConfigError naming the fix."""
    if value < 1:
        raise ConfigError(f"{what} = {value}: a thread count must be 1 or more; set it to a positive number of "
                          "threads, or remove it to let deepsci share the cores.")
    return value


def explicit_threads(setting: int | None = None) -> tuple[int, str] | None:
    """(threads, reason) of the user's explicit setting, None when there is none.

    `setting` is `[train] threads`; then `OMP_NUM_THREADS`; then a torch.set_num_threads the caller made.
    """
    if setting is not None:
        return check_threads(setting), f"train.threads = {setting}"
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env:
        try:
            value = int(env.split(",")[0])
        except ValueError:
            raise ConfigError(f"OMP_NUM_THREADS = '{env}' is not a number of threads; set it to a positive "
                              "integer, or unset it to let deepsci share the cores.") from None
        return check_threads(value, "OMP_NUM_THREADS"), f"OMP_NUM_THREADS = {value}"
    current = torch.get_num_threads()
    if current != _set_by_deepsci:
        return current, f"torch.set_num_threads({current}) in the caller's process"
    return None


# -- the registry of running processes -------------------------------------------------------------------
def registry_dir() -> Path:
    """`$DEEPSCI_CACHE/processes` or `~/.cache/deepsci/processes`: one locked file per running deepsci process."""
    root = os.environ.get("DEEPSCI_CACHE")
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "deepsci") / "processes"


def live_processes(folder: Path | None = None) -> int:
    """deepsci processes holding their registry file now (this one included if registered); a file whose lock
    is free belongs to a process that ended and is removed."""
    folder = registry_dir() if folder is None else folder
    if fcntl is None or not folder.is_dir():
        return 0
    live = 0
    for path in folder.glob("*.lock"):
        try:
            with path.open("rb") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    live += 1  # held by a running process (this one's own file too: another open description)
                    continue
                path.unlink(missing_ok=True)  # its process ended: the kernel dropped the lock
        except OSError:
            continue  # removed by another process meanwhile, or unreadable: not counted
    return live


class _Registration:
    """This process's registry file, held (flock) from the first `enter` to the last `exit` (reference-counted:
    the CLI registers the process, a fit inside it registers again)."""

    def __init__(self) -> None:
        self.depth = 0
        self.handle: Any = None
        self.path: Path | None = None

    def enter(self) -> None:
        self.depth += 1
        if self.depth > 1 or fcntl is None:
            return
        folder = registry_dir()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            # Locked under a temporary name, then renamed: no other process ever sees the file unlocked.
            staging = folder / f".{os.getpid()}-{uuid.uuid4().hex}.tmp"
            handle = staging.open("wb")
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            path = staging.with_name(staging.name[1:-4] + ".lock")
            staging.rename(path)
        except OSError:
            return  # a read-only home, say: this process shares nothing, and still runs
        self.handle, self.path = handle, path

    def exit(self) -> None:
        self.depth = max(0, self.depth - 1)
        if self.depth or self.handle is None:
            return
        assert self.path is not None
        with contextlib.suppress(OSError):
            self.path.unlink()
        self.handle.close()  # closing the last descriptor drops the lock
        self.handle = self.path = None


_registration = _Registration()


# -- the choice ------------------------------------------------------------------------------------------
def choose_threads(*, cores: int, processes: int, explicit: tuple[int, str] | None = None,
                   family: str | None = None, step_mflop: float | None = None) -> ThreadChoice:
    """The thread choice from its inputs (pure): explicit, else one for a small step, else a share of the cores."""
    processes = max(1, processes)
    if explicit is not None:
        return ThreadChoice(explicit[0], explicit[1], cores, processes, step_mflop, explicit=True)
    threshold = THRESHOLD_MFLOP.get(family or "dense", THRESHOLD_MFLOP["dense"])
    if step_mflop is not None and cores > 1 and step_mflop < threshold:
        return ThreadChoice(1, f"a {family} step of {step_mflop:.3g} MFLOP is under the {threshold:g} MFLOP "
                               "from which a second thread gains", cores, processes, step_mflop)
    share = max(1, cores // processes)
    reason = (f"{cores} core(s) available" if processes == 1 else
              f"{cores} core(s) shared by {processes} deepsci processes")
    return ThreadChoice(share, reason, cores, processes, step_mflop)


def step_mflop(model: nn.Module, X: Inputs, batch_size: int) -> float | None:
    """Forward + backward work of one training step in MFLOP: torch's count of a forward pass on the first
    rows of X (eval mode, no gradients, no random draws), scaled to `batch_size` rows, times 3.

    Rows that assemble their own batches count too (molecular graphs: a graph network's matmuls over the
    batch's atoms and directed bonds; its message sums, O(bonds x width), are a 1/width share of them and
    go uncounted, as torch's counter counts only matmuls, convolutions and attention).
    None when X is read from disk (a probe would read a block for nothing), or the model cannot be run on a
    slice of it."""
    from deepsci.data.stream import StreamedRows  # pyarrow: on use

    if isinstance(X, StreamedRows) or n_rows(X) == 0:
        return None
    rows = min(_PROBE_ROWS, n_rows(X), batch_size)
    training = model.training
    model.eval()
    counter = _FlopCount()
    fused = _FusedRecurrences(counter, model)
    try:
        with counter, torch.no_grad():
            forward(model, take(X, slice(0, rows)))
    except (RuntimeError, TypeError, ValueError, IndexError, KeyError, AssertionError, DeepSciError):
        # a model whose forward needs more than a slice (per-member bootstrap batches): size unknown
        return None
    finally:
        fused.remove()
        model.train(training)
    return 3 * (counter.flops + fused.flops) * (batch_size / rows) / 1e6


class _FlopCount(TorchDispatchMode):
    """The FLOPs of the matmuls, convolutions and attention run under it, by torch's own formulas
    (`torch.utils.flop_counter.flop_registry`, FlopCounterMode's), counted as the ops reach the dispatcher.

    Not FlopCounterMode itself: that tracks modules too (and its tracker asserts on a set transformer's
    expanded seeds), and, like every dispatch mode unless it says otherwise, it is guarded against
    torch.compile, a guard whose first use imports torch._dynamo and SymPy: about 2 s of CPU in a process
    whose fit takes less (deepsci.training.optimisers says the same of torch.optim). Nothing run under this
    mode is compiled.
    """

    def __init__(self) -> None:
        super().__init__()
        self.flops = 0

    @classmethod
    def _should_skip_dynamo(cls) -> bool:  # torch's switch for that guard (TorchDispatchMode's docstring)
        return False

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.flops += formula(*args, **kwargs, out_val=out)
        return out


class _FusedRecurrences:
    """The work of recurrent layers that torch runs as one fused kernel its counter does not see (nn.LSTM on a
    CPU): 2 x rows x steps x gates x hidden x (input + hidden) per layer and direction, added where the counter
    saw nothing inside the layer."""

    _GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}

    def __init__(self, counter: _FlopCount, model: nn.Module) -> None:
        self.counter, self.flops, self._seen = counter, 0.0, [0]
        layers = [m for m in model.modules() if isinstance(m, nn.RNNBase)]
        self.handles = [h for m in layers for h in (m.register_forward_pre_hook(self._before),
                                                    m.register_forward_hook(self._after))]

    def _before(self, module: nn.Module, args: Any) -> None:
        self._seen.append(self.counter.flops)

    def _after(self, module: nn.Module, args: Any, output: Any) -> None:
        if self.counter.flops != self._seen.pop():
            return  # torch counted it
        x = args[0].data if isinstance(args[0], nn.utils.rnn.PackedSequence) else args[0]
        assert isinstance(module, nn.RNNBase)
        steps_rows = x.shape[:-1].numel()  # (rows, steps) or (steps,) for an unbatched sequence
        gates, hidden = self._GATES.get(module.mode, 1), module.hidden_size
        directions = 2 if module.bidirectional else 1
        for layer in range(module.num_layers):
            width = module.input_size if layer == 0 else hidden * directions
            self.flops += 2 * steps_rows * gates * hidden * (width + hidden) * directions

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


@dataclass
class ThreadShare:
    """The threads of one fit (or one command) while it runs: chosen on entry, looked at again each epoch.

    `choice` is the first choice; `used` the thread counts taken over the run, in the order first taken
    (metrics.json records both).
    """

    setting: int | None = None
    family: str | None = None
    work: float | None = None
    choice: ThreadChoice | None = None
    used: list[int] = field(default_factory=list)

    def measure(self, model: nn.Module, X: Inputs, batch_size: int) -> ThreadChoice:
        """Count one training step's work (`step_mflop`) and choose again with it."""
        self.work = step_mflop(model, X, batch_size)
        self.choice = None
        self.used.clear()
        return self.apply()

    def apply(self) -> ThreadChoice:
        """Choose and set the threads now (the other processes may have changed since the last time)."""
        global _set_by_deepsci
        choice = choose_threads(cores=available_cores(), processes=live_processes(),
                                explicit=explicit_threads(self.setting), family=self.family, step_mflop=self.work)
        if choice.threads != torch.get_num_threads():
            torch.set_num_threads(choice.threads)
        if not choice.explicit:  # a count the caller set stays theirs, and is seen as theirs next time too
            _set_by_deepsci = choice.threads
        self.choice = self.choice or choice
        if choice.threads not in self.used:
            self.used.append(choice.threads)
        return choice

    def to_json(self) -> dict[str, Any]:
        """The choice and the counts used, for metrics.json."""
        out = self.choice.to_json() if self.choice is not None else {}
        return {**out, "used": list(self.used)}


@contextlib.contextmanager
def share_threads(setting: int | None = None, *, family: str | None = None,
                  work: float | None = None) -> Iterator[ThreadShare]:
    """Register this process, set its threads (`ThreadShare.apply`) and give back the caller's count after.

    Args:
        setting: `[train] threads` (None: not set).
        family: the model family of THRESHOLD_MFLOP (None: not a fit).
        work: one training step's MFLOP (`step_mflop`; None: unknown, the share of the cores decides).
    """
    global _set_by_deepsci
    before, known = torch.get_num_threads(), _set_by_deepsci
    _registration.enter()
    share = ThreadShare(setting, family, work)
    try:
        share.apply()
        yield share
    finally:
        _registration.exit()
        torch.set_num_threads(before)
        _set_by_deepsci = known


def sharing_cores(method: Callable[P, R]) -> Callable[P, R]:
    """`method` run inside `share_threads()`: registered as a running deepsci process, on this process's share of
    the cores (an entry point that computes without training: Run.predict, evaluate, explain, sample)."""

    @functools.wraps(method)
    def shared(*args: P.args, **kwargs: P.kwargs) -> R:
        with share_threads():
            return method(*args, **kwargs)

    return shared


class ShareCores(Callback):
    """Looks again at the share of the cores at the start of every epoch, as other fits start and finish."""

    def __init__(self, share: ThreadShare) -> None:
        self.share = share

    def on_epoch_start(self, trainer: Any, epoch: int) -> None:
        self.share.apply()


def reserve_share() -> Callable[[], None]:
    """Count one more deepsci process on this machine from now until the returned function is called (once or
    more): for a process about to start whose start takes seconds (a sweep's worker, forked once its fork server
    has imported torch), so that the processes running meanwhile take their share with it counted, instead of
    every core until it registers itself."""
    registration = _Registration()
    registration.enter()
    return registration.exit


def take_share() -> ThreadChoice:
    """Register this process for the rest of its life and take its share of the cores (the `deepsci` commands
    that compute without training: evaluate, predict, explain, sweep's parent). A fit inside chooses again."""
    _registration.enter()
    return ThreadShare().apply()
