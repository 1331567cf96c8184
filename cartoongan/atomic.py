"""Writing files and folders so that a killed run never leaves a half-written one.

Everything is written under a temporary name beside its destination and renamed into place
(an atomic step on one filesystem) only once complete; on any error the temporary is removed.
Temporary names carry the writer's process id (`.NAME.partial-PID-XXXX`), so a later run can
tell the leftovers of a killed writer from those of a live one and clean them up
(`remove_stale_partials`).
"""

import contextlib
import errno
import os
import re
import shutil
import tempfile

# `.NAME.partial-PID-RANDOM` and `.NAME.old-PID-RANDOM`, optionally with a suffix.
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?:partial|old)-(?P<pid>\d+)-[^.]+")


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _prefix(path, kind):
    return f".{os.path.basename(path)}.{kind}-{os.getpid()}-"


@contextlib.contextmanager
def atomic_file(path, suffix=""):
    """Yields a temporary file path beside `path`; it replaces `path` if the block succeeds.

    `suffix` keeps tools that look at the extension (image and NumPy writers) happy."""
    path = os.path.abspath(path)
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_prefix(path, "partial"), suffix=suffix, dir=directory)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; give it the usual mode
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@contextlib.contextmanager
def atomic_directory(path, keep_existing=False):
    """Yields a temporary directory beside `path`, which becomes `path` if the block succeeds.

    keep_existing=False: the new directory replaces an existing one. Concurrent writers each
    publish a complete directory and the last one wins; readers use `read_directory_snapshot`
    to never mix two versions.
    keep_existing=True: publish once (a cache entry): if another writer published `path`
    first, that winner is kept and this one's directory is discarded."""
    path = os.path.abspath(path)
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    remove_stale_partials(parent, os.path.basename(path))
    tmp = tempfile.mkdtemp(prefix=_prefix(path, "partial"), dir=parent)
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        _publish(tmp, path, keep_existing)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


def _publish(tmp, path, keep_existing):
    """Renames the complete directory `tmp` to `path` (one rename: readers see all or none)."""
    parent, name = os.path.split(path)
    for _ in range(100):  # each retry means another writer moved in between: bounded
        try:
            os.rename(tmp, path)  # fails on a non-empty existing directory, never merges
            return
        except OSError as error:
            if error.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
        if keep_existing:
            return  # a concurrent writer won; its entry is as good as ours
        # Moved aside, not deleted in place: a kill mid-delete must not leave a partial
        # folder under the trusted name. A writer racing us may have moved it first.
        aside = tempfile.mkdtemp(prefix=_prefix(path, "old"), dir=parent)
        try:
            os.rename(path, os.path.join(aside, name))
        except FileNotFoundError:
            pass
        finally:
            shutil.rmtree(aside, ignore_errors=True)
    raise OSError(f"{path}: could not be replaced: other writers kept replacing it")


def remove_stale_partials(directory, name=None):
    """Removes temporaries left in `directory` by writers that are no longer running (of
    `name` only, or of every name). Returns the removed paths."""
    removed = []
    try:
        entries = os.listdir(directory)
    except OSError:
        return removed
    for entry in entries:
        match = _TEMPORARY.match(entry)
        if not match or (name is not None and match["name"] != name) or is_running(int(match["pid"])):
            continue
        stale = os.path.join(directory, entry)
        if os.path.isdir(stale) and not os.path.islink(stale):
            shutil.rmtree(stale, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.remove(stale)
        removed.append(stale)
    return removed


def is_running(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def directory_identity(path):
    """What changes when `path` is replaced by another directory (inode and change time)."""
    status = os.stat(path)
    return status.st_ino, status.st_ctime_ns


def _identity_or_none(path):
    try:
        return directory_identity(path)
    except FileNotFoundError:
        return None


def read_directory_snapshot(path, read, attempts=50):
    """Calls `read(path)` until it ran from start to end on one version of the directory.

    A writer using `atomic_directory` may replace `path` while it is read: the read then
    fails (a file vanished) or spans two versions (the identity changed); both are retried.
    A file missing from an unchanged directory is an error of its own, raised at once."""
    import time

    for attempt in range(attempts):
        if attempt:
            time.sleep(0.002 * attempt)
        before = _identity_or_none(path)
        if before is None:  # between a writer's two renames
            continue
        try:
            result = read(path)
        except FileNotFoundError:
            if _identity_or_none(path) == before:
                raise
            continue
        if _identity_or_none(path) == before:
            return result
    if _identity_or_none(path) is None:
        raise FileNotFoundError(errno.ENOENT, "no such directory", path)
    raise OSError(f"{path}: replaced while being read, {attempts} times in a row")
