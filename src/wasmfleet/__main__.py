"""``python -m wasmfleet`` is the ``wasmfleet`` command."""

from wasmfleet.cli.main import main

main()
