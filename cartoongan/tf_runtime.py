"""Importing TensorFlow without its start-up chatter on the terminal (unless `verbose`).

TensorFlow 2.21 prints absl lines ("All log messages before absl::InitializeLog()",
oneDNN notes, "Could not find cuda drivers") while its two shared libraries load, before
TF_CPP_MIN_LOG_LEVEL set from Python takes effect; they bury the progress bar and look like
errors to a new user. The import runs with the process's stderr captured; lines that are not
that known chatter (a real import error) are printed again. TF_CPP_MIN_LOG_LEVEL=3 (unless
set already) then keeps later C++ lines, such as "E0000 ... failed call to cuInit" on a
machine without a GPU, off the terminal.

The command-line tools call `import_tensorflow`. The library gets the same through
`install_quiet_import`, which `import cartoongan` calls: the first import of TensorFlow in
the process (by any module) runs quietly, unless the user asks for the logs with
CARTOONGAN_VERBOSE=1 or by setting TF_CPP_MIN_LOG_LEVEL themselves.

`import cartoongan` also keeps TensorFlow from loading JAX (`skip_optional_jax`): where JAX
is installed, TensorFlow's import loads it for a TFLite converter and a Keras callback that
this project never uses, and that adds 145 MB to every process's resident memory.
"""

import contextlib
import importlib.abc
import os
import re
import sys
import tempfile

VERBOSE_ENVIRONMENT = "CARTOONGAN_VERBOSE"

_CHATTER = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog|[IWE]\d{4} |To enable the following instructions"
    r"|.*rebuild TensorFlow with the appropriate compiler flags)"
)


def import_tensorflow(verbose=False):
    """Imports TensorFlow (and Keras), quietly unless `verbose`; returns the module."""
    if verbose or "tensorflow" in sys.modules:
        _uninstall()  # the logs were asked for: the library's quiet import stands aside
        import tensorflow as tf

        return tf
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # later C++ messages: fatal ones only
    with _stderr_captured() as lines:
        import keras  # noqa: F401  (loads TensorFlow as its backend)
        import tensorflow as tf
    _reprint(lines)
    return tf


def install_quiet_import():
    """Makes the process's first import of TensorFlow quiet, as `import_tensorflow` is,
    whoever imports it (`cartoongan.inference`, Keras, the user's code), unless the logs are
    asked for (CARTOONGAN_VERBOSE=1, or TF_CPP_MIN_LOG_LEVEL set by the user) or TensorFlow
    is loaded already. Nothing else changes: the module is TensorFlow's own, loaded by its own
    loader, which is left on it."""
    if ("tensorflow" in sys.modules or os.environ.get(VERBOSE_ENVIRONMENT, "") not in ("", "0")
            or "TF_CPP_MIN_LOG_LEVEL" in os.environ or any(isinstance(f, _QuietFinder) for f in sys.meta_path)):
        return
    sys.meta_path.insert(0, _QuietFinder())


def skip_optional_jax():
    """Makes `import jax` fail for the two modules that TensorFlow's import runs and that treat
    JAX as optional: TFLite's utilities (for `TFLiteConverter.experimental_from_jax`) and Keras'
    Orbax checkpoint callback (a compatibility patch for old JAX versions). Loaded, JAX's
    runtime libraries are 145 MB of resident memory in every process that imports TensorFlow
    (docs/reliability.md). Everyone else, Keras' JAX backend included, imports JAX as usual,
    and once JAX is loaded this changes nothing."""
    if not any(isinstance(finder, _OptionalJaxFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _OptionalJaxFinder())


class _OptionalJaxFinder(importlib.abc.MetaPathFinder):
    IMPORTERS = ("tensorflow.lite.python.util", "keras.src.callbacks.orbax_checkpoint")

    def find_spec(self, name, path, target=None):
        if name != "jax":
            return None
        frame = sys._getframe(1)
        while frame is not None and frame.f_globals.get("__name__", "").startswith("importlib"):
            frame = frame.f_back  # the import machinery's frames, up to the importing module
        importer = frame.f_globals.get("__name__") if frame is not None else None
        if importer in self.IMPORTERS:
            raise ImportError(f"JAX is not loaded for {importer} (cartoongan.tf_runtime.skip_optional_jax)")
        return None


def _uninstall():
    sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, _QuietFinder)]


class _QuietFinder(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` with the finders after it and wraps its loader in `_QuietLoader`;
    leaves sys.meta_path once it has done so."""

    def find_spec(self, name, path, target=None):
        if name != "tensorflow":
            return None
        _uninstall()
        for finder in sys.meta_path:
            spec = finder.find_spec(name, path, target) if hasattr(finder, "find_spec") else None
            if spec is not None and spec.loader is not None:
                spec.loader = _QuietLoader(spec.loader)
                return spec
        return None


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = module.__spec__.loader = self.loader  # TensorFlow's own, from now on
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        with _stderr_captured() as lines:
            self.loader.exec_module(module)
        _reprint(lines)


def _reprint(lines):
    for line in lines:
        if not _CHATTER.match(line):
            sys.stderr.write(line + "\n")


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
