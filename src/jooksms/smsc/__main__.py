"""``python -m jooksms.smsc``: the same as ``jooksms smsc-sim``."""

from .cli import main

main()
