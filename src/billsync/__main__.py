"""`python -m billsync` is the `billsync` command."""

from billsync.cli import main

main()
