#!/usr/bin/env python3
"""Train or fine-tune a generator: see `python tools/train.py --help`."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from cartoongan.cli.train import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
