#!/usr/bin/env python3
"""Distil a style into a small, fast generator: see `python tools/distill.py --help`."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from cartoongan.cli.distill import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
