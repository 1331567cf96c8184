"""Fetching files from a base URL (http(s)://, file:// or a plain directory) with sha256 checks.

Every file is streamed into a temporary name beside its destination, hashed while it is
written, and only renamed into place when the hash matches: an interrupted or corrupted
download never leaves a file that a later run would trust.
"""

import contextlib
import hashlib
import os
import urllib.error
import urllib.parse
import urllib.request

from cartoongan.atomic import atomic_file

_CHUNK = 1 << 20
_TIMEOUT_S = 60


class DownloadError(RuntimeError):
    """A file could not be fetched or failed its checksum; the message names it."""


class ChecksumError(DownloadError):
    """A fetched file is not the published one: possibly tampered with. Never fall back
    silently on this one, unlike a plain network failure."""


@contextlib.contextmanager
def progress_bar(total, description):
    """A bar of `total` steps on stderr; yields the function that advances it. It stays on
    its own line: at 100% once every step is done, and its line ends before an error that
    follows is printed."""
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=description, unit="file", leave=True)
    try:
        yield lambda *_: bar.update()
    finally:
        bar.close()


def join_url(base, relative_path):
    """Joins a base URL or directory with a relative path of `/`-separated parts."""
    if "://" in base:
        return base.rstrip("/") + "/" + urllib.parse.quote(relative_path)
    return os.path.join(base, *relative_path.split("/"))


def open_source(location):
    """Opens an http(s)://, file:// URL or a local path for binary reading."""
    scheme = urllib.parse.urlparse(location).scheme if "://" in location else ""
    if scheme in ("http", "https", "file"):
        return urllib.request.urlopen(location, timeout=_TIMEOUT_S)
    if scheme:
        raise DownloadError(f"unsupported URL scheme {scheme!r} in {location}")
    return open(location, "rb")


def fetch_verified(location, destination, sha256):
    """Copies `location` to `destination` if and only if its sha256 equals `sha256`."""
    with atomic_file(destination) as partial:
        digest = hashlib.sha256()
        try:
            with open_source(location) as source, open(partial, "wb") as sink:
                while chunk := source.read(_CHUNK):
                    digest.update(chunk)
                    sink.write(chunk)
        except (OSError, urllib.error.URLError, ValueError) as error:
            raise DownloadError(f"cannot fetch {location}: {error}") from error
        if digest.hexdigest() != sha256:
            raise ChecksumError(
                f"checksum mismatch for {location}: expected sha256 {sha256}, got "
                f"{digest.hexdigest()}: the file is not the published one (truncated, corrupted "
                f"or TAMPERED WITH); nothing was cached"
            )
