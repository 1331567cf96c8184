#!/usr/bin/env python3
"""Build the training TFRecords: see `python tools/build_tfrecords.py --help`."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from cartoongan.cli.build_tfrecords import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
