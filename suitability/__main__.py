"""``python -m suitability``: the same as the ``suitability`` command."""

from .cli import main

main()
