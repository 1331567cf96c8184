"""Writing files and folders so that a killed run never leaves a half-written one.

Everything is written under a temporary name beside its destination and renamed into place
(an atomic step on one filesystem) only once complete; on any error the temporary is removed.
"""

import contextlib
import os
import shutil
import tempfile


@contextlib.contextmanager
def atomic_file(path, suffix=""):
    """Yields a temporary file path beside `path`; it replaces `path` if the block succeeds.

    `suffix` keeps tools that look at the extension (image and NumPy writers) happy."""
    path = os.path.abspath(path)
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.partial-", suffix=suffix, dir=directory)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@contextlib.contextmanager
def atomic_directory(path):
    """Yields a temporary directory beside `path`; it replaces `path` if the block succeeds."""
    path = os.path.abspath(path)
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.partial-", dir=parent)
    try:
        yield tmp
        if os.path.isdir(path):
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
