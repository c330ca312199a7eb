"""`python -m cli`: the same as the `ordergate` command (make run uses it before installing)."""

from cli.main import main

main()
