"""A warm `deepsci` command for the tests of the docs (tests/test_docs.py): the docs' ~35 commands without ~5 s of
imports each.

A new `deepsci` process spends about 5 s of CPU importing torch, scikit-learn, SciPy, pandas, matplotlib and the
library before its command starts: more than a fast-mode fit itself. Here one server process per test worker
imports them once and forks a child per command. The command is run as a user runs it: `deepsci.cli.main` as the
`deepsci` script calls it, in the command's folder, with its environment, arguments and standard streams (passed
over a Unix socket), and its exit status is the command's.

`install(folder, env)` starts the server with `env` (the environment of the docs' commands: a library that reads
a variable when it loads, matplotlib's MPLBACKEND say, reads the same one) and writes two scripts into `folder`
that hand their command to the server and exit with its status: `deepsci`, to put first on the commands' PATH,
and `warm-python`, which runs `warm-python -c CODE ARGS...` as `python -c` would (the docs' Python blocks).

Forking a process that loaded torch is safe only before torch computes: GNU OpenMP, torch's thread pool, hangs in
a child forked after a parallel region. The server never computes; it only imports. Run directly, this file is
the server: `python warm_deepsci.py SOCKET PARENT_PID`.
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

PARENT_CHECK = 5.0  # seconds between looks at whether the test worker that started the server still runs
MESSAGE = 1 << 20  # bytes: the largest request (arguments, folder and environment as JSON)
CLIENT = """#!{python} -I
import json, os, socket, sys
server = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
server.connect({address!r})
request = json.dumps({{"mode": {mode!r}, "argv": sys.argv[1:], "cwd": os.getcwd(), "env": dict(os.environ)}})
socket.send_fds(server, [request.encode()], [0, 1, 2])
sys.exit(int(server.recv(16) or b"1"))
"""


def install(folder: Path, env: dict[str, str]) -> None:
    """Start a warm server with `env` and write the `deepsci` and `warm-python` scripts that use it into `folder`
    (created). The server stops when this process exits."""
    folder.mkdir(parents=True, exist_ok=True)
    address = str(folder / "deepsci.socket")
    server = subprocess.Popen([sys.executable, __file__, address, str(os.getpid())], env=env, stdout=subprocess.PIPE,
                              text=True)
    atexit.register(server.kill)
    ready = server.stdout.readline() if server.stdout is not None else ""
    if ready.strip() != "ready":
        raise RuntimeError(f"the warm deepsci server did not start (exit {server.poll()})")
    for name, mode in (("deepsci", "deepsci"), ("warm-python", "python")):
        script = folder / name
        script.write_text(CLIENT.format(python=sys.executable, address=address, mode=mode))
        script.chmod(0o755)


def serve(address: str, parent: int) -> None:
    """Import what a command imports before it works (the modules `deepsci sweep --jobs` preloads for its workers),
    then run each command a client sends, one at a time, in a forked child, until the process `parent` (the test
    worker) is gone, however it ended."""
    import importlib

    from deepsci.sweep.jobs import PRELOAD

    for module in PRELOAD:
        importlib.import_module(module)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(address)
    listener.listen()
    listener.settimeout(PARENT_CHECK)
    print("ready", flush=True)
    while os.getppid() == parent:
        try:
            client, _ = listener.accept()
        except TimeoutError:
            continue
        client.settimeout(None)
        with client:
            request, fds, _, _ = socket.recv_fds(client, MESSAGE, 3)
            child = os.fork()
            if child == 0:
                listener.close()
                client.close()
                _command(json.loads(request), fds)
            for fd in fds:
                os.close(fd)
            _, status = os.waitpid(child, 0)
            code = os.waitstatus_to_exitcode(status)  # -N: killed by signal N, which a shell reports as 128 + N
            client.send(str(code if code >= 0 else 128 - code).encode())


def _command(request: dict, fds: list[int]) -> None:
    """In the forked child: become the client's command, run it, and end with its status."""
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    status = 1
    try:
        if request["mode"] == "python":  # python -c CODE ARGS...
            sys.argv = ["-c", *request["argv"][2:]]
            sys.path[0] = ""  # python -c imports from the current folder first (the server: from this one's)
            exec(compile(request["argv"][1], "<string>", "exec"), {"__name__": "__main__"})
            status = 0
        else:
            from deepsci.cli import main

            sys.argv = ["deepsci", *request["argv"]]
            main()  # ends the process itself, as the `deepsci` script does
    except SystemExit as exc:  # as the interpreter ends on it: an int is the status, anything else is printed
        status = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
        if not isinstance(exc.code, int | None):
            print(exc.code, file=sys.stderr)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        atexit._run_exitfuncs()  # what the interpreter's exit would run first (main() ran them already)
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os._exit(status)


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
