"""RTL tests: make the repository root and this directory importable (helpers are plain
modules named rtl_*.py so that they cannot clash with other test directories)."""
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
for path in (_HERE.parents[1], _HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
