"""The command's process ends without the interpreter's teardown (deepsci.cli.ending), and loses nothing by it:
its output, its status and its atexit handlers all come through; a thread still running is waited for."""

from __future__ import annotations

import subprocess
import sys
import textwrap

PRELUDE = """
import atexit, sys, threading, time
atexit.register(lambda: print("atexit ran", flush=True))
"""


def _command(body: str, *argv: str) -> subprocess.CompletedProcess[str]:
    """`deepsci *argv` as its own process (argv from sys.argv, as the console script runs it), after `body`."""
    code = (PRELUDE + textwrap.dedent(body)
            + f"\nsys.argv = ['deepsci', *{list(argv)!r}]\nfrom deepsci.cli import main\nmain()\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_output_status_and_atexit_come_through() -> None:
    done = _command("", "--help")
    assert done.returncode == 0, done.stderr
    assert "Commands" in done.stdout and "sweep" in done.stdout  # the whole help, through a pipe
    assert done.stdout.rstrip().endswith("atexit ran")  # the handlers ran, after the command's output


def test_the_teardown_is_skipped() -> None:
    """The interpreter's teardown (which would finalise this global object) does not run: the point of ending so."""
    body = """
    class Finalised:
        def __del__(self):
            print("teardown ran", flush=True)
    kept = Finalised()
    """
    done = _command(body, "--help")
    assert done.returncode == 0 and "atexit ran" in done.stdout and "teardown ran" not in done.stdout
    plain = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(body)], capture_output=True, text=True)
    assert "teardown ran" in plain.stdout  # the same object, with an ordinary exit


def test_a_failed_command_keeps_its_status() -> None:
    done = _command("", "fit", "no-such-config.toml")
    assert done.returncode == 2 and "error:" in done.stderr and "atexit ran" in done.stdout


def test_a_running_thread_is_waited_for() -> None:
    """A non-daemon thread still working when the command ends finishes its work, as with a plain exit;
    `os._exit` would have cut it off."""
    body = """
    def late():
        time.sleep(0.5)
        print("thread finished", flush=True)
    threading.Thread(target=late).start()
    """
    done = _command(body, "--help")
    assert done.returncode == 0 and "thread finished" in done.stdout and "atexit ran" in done.stdout


def test_in_process_main_raises_system_exit() -> None:
    """main([...]) as tests and scripts call it raises SystemExit, as before: it never ends their process."""
    import pytest

    from deepsci.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
