"""Atomic publication under concurrency: writers never fail on each other, readers never
see half of a directory or a mix of two versions, leftovers of dead writers are cleaned."""

import os
import subprocess
import sys
import textwrap

import pytest

from cartoongan.atomic import atomic_directory, read_directory_snapshot, remove_stale_partials
from tests.conftest import PROJECT_ROOT, shared_path

# A writer publishes versions of a two-file directory whose files must always agree; a
# reader reads both files through read_directory_snapshot and counts any disagreement.
_WORKER = textwrap.dedent("""
    import os, sys, time
    from cartoongan.atomic import atomic_directory, read_directory_snapshot
    role, path, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    deadline, done, errors = time.monotonic() + seconds, 0, []
    def read(directory):
        with open(os.path.join(directory, "config.json")) as a, open(os.path.join(directory, "model.weights.h5")) as b:
            return a.read(), b.read()
    while time.monotonic() < deadline:
        try:
            if role == "writer":
                token = f"{os.getpid()}-{done}"
                with atomic_directory(path) as tmp:
                    for name in ("config.json", "model.weights.h5"):
                        with open(os.path.join(tmp, name), "w") as f:
                            f.write(token)
            else:
                config, weights = read_directory_snapshot(path, read)
                if config != weights:
                    errors.append(f"mixed versions {config} {weights}")
            done += 1
        except Exception as error:
            errors.append(repr(error))
    print(done, len(errors), errors[:3])
""")


def test_two_writers_and_a_reader_never_collide(tmp_path):
    """Two writers and a reader at once: without one rename of a complete folder this gave
    73 'Directory not empty', 50 FileNotFoundError and 1,216 partial reads; none may happen."""
    target = tmp_path / "preset"
    with atomic_directory(target) as tmp:
        for name in ("config.json", "model.weights.h5"):
            (tmp_path / tmp / name).write_text("initial")
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    workers = [subprocess.Popen([sys.executable, "-c", _WORKER, role, str(target), "4"],
                                stdout=subprocess.PIPE, text=True, env=env)
               for role in ("writer", "writer", "reader")]
    results = [worker.communicate(timeout=120)[0].split(maxsplit=2) for worker in workers]
    for role, (done, errors, examples) in zip(("writer", "writer", "reader"), results):
        assert int(errors) == 0, (role, examples)
        assert int(done) > 20, role  # they really did race, many times
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "preset"]
    assert leftovers == []


def test_a_missing_file_in_an_unchanged_directory_is_raised_at_once(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(FileNotFoundError):
        read_directory_snapshot(tmp_path / "d", lambda d: open(os.path.join(d, "absent")).read())


def test_keep_existing_keeps_the_first_publication(tmp_path):
    for content in ("first", "second"):
        with atomic_directory(tmp_path / "cache", keep_existing=True) as tmp:
            with open(os.path.join(tmp, "f"), "w") as f:
                f.write(content)
    assert (tmp_path / "cache" / "f").read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["cache"]


def _dead_pid():
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True).stdout)


def test_only_dead_writers_leftovers_are_removed(tmp_path):
    dead, live = _dead_pid(), os.getppid()
    (tmp_path / f".a.png.partial-{dead}-x1.png").write_text("")
    (tmp_path / f".preset.partial-{dead}-x2").mkdir()
    (tmp_path / f".preset.old-{dead}-x3").mkdir()
    (tmp_path / f".a.png.partial-{live}-x4.png").write_text("")
    (tmp_path / ".a.png.partial-unrelated").write_text("")  # not our naming: never touched
    removed = remove_stale_partials(tmp_path)
    assert sorted(os.path.basename(p) for p in removed) == sorted(
        [f".a.png.partial-{dead}-x1.png", f".preset.partial-{dead}-x2", f".preset.old-{dead}-x3"])
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".a.png.partial-{live}-x4.png", ".a.png.partial-unrelated"]


_FETCH = "from cartoongan.presets import fetch_style; print(fetch_style('hayao'))"


def test_two_processes_fetching_one_style_into_an_empty_cache_both_succeed(tmp_path, http_server):
    home = tmp_path / "home"
    stale = home / "presets" / f".hayao.partial-{_dead_pid()}-killed"
    (stale / "download").mkdir(parents=True)  # what a killed fetch leaves behind
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "CARTOONGAN_HOME": str(home),
           "CARTOONGAN_WEIGHTS_URL": http_server(shared_path("weights", "cartoongan")), "TF_CPP_MIN_LOG_LEVEL": "3"}
    fetchers = [subprocess.Popen([sys.executable, "-c", _FETCH], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, env=env) for _ in range(2)]
    for fetcher in fetchers:
        out, err = fetcher.communicate(timeout=300)
        assert fetcher.returncode == 0, err
        assert out.strip() == str(home / "presets" / "hayao")
    assert sorted(p.name for p in (home / "presets").iterdir()) == ["hayao"]
    assert sorted(p.name for p in (home / "presets" / "hayao").iterdir()) == ["config.json", "model.weights.h5"]
