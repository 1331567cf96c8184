#!/usr/bin/env python3
"""Cartoonize photos at scale with Apache Beam: see `python tools/cartoonize_beam.py --help`."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from cartoongan.cli.cartoonize_beam import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
