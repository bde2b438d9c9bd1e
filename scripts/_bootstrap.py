"""Make ``python scripts/<name>.py`` work from any directory: put the repo root on ``sys.path``.

Scripts import this only when run as files (``__package__`` empty); ``python -m scripts.<name>``
needs nothing. Kept in one place so no script carries its own path fiddling.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
