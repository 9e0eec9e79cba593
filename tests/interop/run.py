#!/usr/bin/env python3
"""Run the OpenStack interop 2022.11 required tests against a fresh Onestack.

    python tests/interop/run.py [--services identity,...] [--port P] [--keep]

See docs/interop.md. Standard library only: tempest lives in its own venv,
tests/interop/.venv-tempest, which this script creates when it is missing.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from interop_harness.main import main

if __name__ == "__main__":
    sys.exit(main())
