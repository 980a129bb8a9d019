"""``python -m kundresa``: the same command as the installed ``kundresa`` script."""

from kundresa.cli import main

main(prog_name="kundresa")
