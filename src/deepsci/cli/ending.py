"""How the `deepsci` command's process ends: its status, without the interpreter's teardown.

Once the command is done, CPython would destroy every module and object it made before exiting: with torch,
pandas, scikit-learn and Optuna loaded (3,000 modules, 340,000 objects) that takes 1.0-1.5 s on this project's
2-core machine, after the command's work and output are over, on every command (`deepsci fit`, `predict`,
`sweep`, ...). The operating system frees the same memory at once. So the command's own process ends with
`os._exit` after doing what the teardown would do that anyone can see:

- the atexit handlers run (multiprocessing stops its fork server and joins its children, logging flushes and
  closes its handlers, Optuna and SQLAlchemy release what they registered);
- stdout and stderr are flushed.

It falls back to the ordinary exit when another thread that the interpreter would wait for is still running,
or when torch.distributed holds a process group (`torchrun`: the group is left to torch to take down). A
command run in-process (`main([...])`, the tests) is never ended this way.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading


def end_process(status: int) -> None:
    """End the process with `status`: `os._exit` after the atexit handlers and a flush of stdout and stderr
    (the module docstring says why), or `sys.exit` where that would drop work (`abrupt_exit_safe`)."""
    if not abrupt_exit_safe():
        sys.exit(status)
    atexit._run_exitfuncs()  # what `sys.exit` would run first; the private name is CPython's only handle on it
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can be written to it anyway
            pass
    os._exit(status)


def abrupt_exit_safe() -> bool:
    """Whether no other thread would be waited for (non-daemon threads beside this one) and no
    torch.distributed process group is open."""
    if any(t is not threading.current_thread() and t.is_alive() and not t.daemon for t in threading.enumerate()):
        return False
    distributed = sys.modules.get("torch.distributed")
    return not (distributed is not None and distributed.is_available() and distributed.is_initialized())
