"""`make load`: concurrent clients against the local stack, and the faults they must ride through."""

import sys
from pathlib import Path

# The commands run from the source tree, where the layer's packages are not installed.
_LAYER = str(Path(__file__).resolve().parent.parent / "layers" / "common")
if _LAYER not in sys.path:
    sys.path.insert(0, _LAYER)
