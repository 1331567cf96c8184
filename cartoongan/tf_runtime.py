"""Importing TensorFlow without its start-up chatter on the terminal (unless `verbose`).

TensorFlow 2.21 prints absl lines ("All log messages before absl::InitializeLog()",
oneDNN notes, "Could not find cuda drivers") while its two shared libraries load, before
TF_CPP_MIN_LOG_LEVEL set from Python takes effect; they bury the progress bar and look like
errors to a new user. The import runs with the process's stderr captured; lines that are not
that known chatter (a real import error) are printed again.
"""

import contextlib
import os
import re
import sys
import tempfile

_CHATTER = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog|[IWE]\d{4} |To enable the following instructions"
    r"|.*rebuild TensorFlow with the appropriate compiler flags)"
)


def import_tensorflow(verbose=False):
    """Imports TensorFlow (and Keras), quietly unless `verbose`; returns the module."""
    if verbose or "tensorflow" in sys.modules:
        import tensorflow as tf

        return tf
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # later C++ messages: errors only
    with _stderr_captured() as lines:
        import keras  # noqa: F401  (loads TensorFlow as its backend)
        import tensorflow as tf
    for line in lines:
        if not _CHATTER.match(line):
            sys.stderr.write(line + "\n")
    return tf


@contextlib.contextmanager
def _stderr_captured():
    """Redirects file descriptor 2 (C++ writes there directly) into a temporary file."""
    sys.stderr.flush()
    saved = os.dup(2)
    lines = []
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        except BaseException:
            _restore(saved, sink, lines)
            sys.stderr.writelines(line + "\n" for line in lines)  # all of it: it explains the failure
            raise
        _restore(saved, sink, lines)


def _restore(saved, sink, lines):
    sys.stderr.flush()
    os.dup2(saved, 2)
    os.close(saved)
    sink.seek(0)
    lines += sink.read().decode("utf-8", "replace").splitlines()
