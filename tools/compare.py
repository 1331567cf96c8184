#!/usr/bin/env python3
"""Compare styles on photos in one contact sheet: see `python tools/compare.py --help`."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from cartoongan.cli.compare import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
