"""Command line: `python -m rtl generate --lanes 8 -o build/npu_l8.v` (see `--help`)."""
import sys

from .cli import main

sys.exit(main())
