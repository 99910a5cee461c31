import sys
from pathlib import Path

# The helpers next to these tests (model_helpers.py) are imported by name.
sys.path.insert(0, str(Path(__file__).parent))
