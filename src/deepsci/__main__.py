"""`python -m deepsci ...` runs the `deepsci` command (and lets `torchrun -m deepsci` start it)."""

from deepsci.cli import main

if __name__ == "__main__":
    main()
