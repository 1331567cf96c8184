"""cartoongan.video on small clips generated here with PyAV (H.264 + AAC, VP9 + Opus)."""

import fractions
import glob
import json
import os
import signal
import subprocess
import sys
import time

import av
import numpy as np
import pytest

from cartoongan import video
from cartoongan.video import (
    VideoError,
    VideoReadError,
    cartoonize_video,
    list_media,
    output_size,
)
from tests.conftest import PROJECT_ROOT, psnr


def make_clip(path, frames=30, width=64, height=48, rate=25, pts=None, audio=True, rotation=0,
              codec="libx264", options=None, subtitles=False):
    """A clip of moving gradients; `pts` (in 1/rate units) makes it variable-rate; with a
    sine-tone audio track (AAC, or Opus for VP9) unless `audio` is False; `subtitles` adds
    two subtitle cues (SubRip, or mov_text in MP4/MOV)."""
    with av.open(str(path), "w", options=options or {}) as out:
        video = out.add_stream(codec, rate=rate)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        # One encoder thread: x264's bitstream depends on its thread count, which follows the
        # CPUs the process may use, and other tests' libraries change that; the damaged-file
        # tests need the same bytes every time.
        video.thread_count = 1
        if rotation:
            video.set_display_rotation(rotation)
        sound = out.add_stream("aac" if codec == "libx264" else "libopus", rate=48000) if audio else None
        if sound:
            sound.layout = "mono"
        if subtitles:
            mp4 = str(path).endswith((".mp4", ".mov"))
            text = out.add_mux_stream("mov_text" if mp4 else "subrip")
            text.time_base = fractions.Fraction(1, 1000)
        y, x = np.mgrid[:height, :width]
        for i in range(frames):
            image = np.stack([(x * 4 + i * 5) % 256, (y * 5) % 256, np.full_like(x, i * 7 % 256)], -1)
            frame = av.VideoFrame.from_ndarray(image.astype(np.uint8), format="rgb24")
            frame.pts = i if pts is None else pts[i]
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound:
            seconds = (frames if pts is None else pts[-1] + 1) / rate
            tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(48000 * seconds)) / 48000)).astype(np.float32)
            for start in range(0, tone.size, 960):
                chunk = av.AudioFrame.from_ndarray(tone[None, start:start + 960].copy(), format="fltp", layout="mono")
                chunk.sample_rate, chunk.pts = 48000, start
                out.mux(sound.encode(chunk))
            out.mux(sound.encode(None))
        for number, cue in enumerate([b"Hello", b"world"] if subtitles else []):
            packet = av.Packet(len(cue).to_bytes(2, "big") + cue if mp4 else cue)
            packet.stream, packet.time_base, packet.duration = text, fractions.Fraction(1, 1000), 300
            packet.pts = packet.dts = 100 + 400 * number
            out.mux(packet)
    return str(path)


def video_times(path):
    """Presentation times (seconds) of the decoded frames of the first video stream."""
    with av.open(str(path)) as container:
        return [float(frame.pts * frame.time_base) for frame in container.decode(video=0)]


def video_frames(path):
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def packets(path, kind):
    """(bytes, pts seconds) of every packet of the streams of `kind`."""
    with av.open(str(path)) as container:
        streams = [s for s in container.streams if s.type == kind]
        return [(bytes(p), float(p.pts * p.time_base)) for p in container.demux(streams) if p.size]


@pytest.fixture(scope="module")
def tiny(tiny_preset):
    from cartoongan.inference import Cartoonizer

    return Cartoonizer.from_pretrained(str(tiny_preset), precision="float32")


def leftovers(folder):
    return [name for name in os.listdir(folder) if name.startswith(".")]


def test_frames_timestamps_size_and_sound_are_kept(tmp_path, tiny):
    source = make_clip(tmp_path / "clip.mp4", frames=30)
    destination = tmp_path / "out" / "clip.mp4"
    reports = []
    result = cartoonize_video(tiny, source, destination, batch_size=4, progress=lambda *a: reports.append(a))
    assert result.frames == 30 and not result.errors and result.resumed_frames == 0
    assert video_times(destination) == pytest.approx(video_times(source), abs=1e-6)
    with av.open(str(destination)) as out, av.open(source) as inp:
        video = out.streams.video[0]
        assert (video.codec_context.name, video.codec_context.pix_fmt) == ("h264", "yuv420p")
        assert (video.width, video.height) == (64, 48)
        assert video.average_rate == inp.streams.video[0].average_rate == 25
    source_audio = packets(source, "audio")
    assert source_audio and packets(destination, "audio") == source_audio  # copied, byte for byte
    assert reports[0] == (0, 30) and reports[-1] == (30, 30)
    assert result.flicker > 0 and result.output_change > 0 and result.input_change > 0.5
    assert leftovers(tmp_path / "out") == []  # work folder and temporaries gone


def as_yuv420(images):
    """What an RGB image can be in a yuv420p video: the random tiny generator's output is
    chroma noise that 4:2:0 halves away (15 dB), so its frames are compared after that."""
    return [av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p").to_ndarray(format="rgb24")
            for image in images]


def test_frames_are_the_cartoonizers_on_the_decoded_frames(tmp_path, tiny):
    source = make_clip(tmp_path / "clip.mkv", frames=6, width=96, height=64, audio=False)
    cartoonize_video(tiny, source, tmp_path / "out.mkv", quality=10)
    expected = as_yuv420(tiny.cartoonize_batch(video_frames(source)))
    got = video_frames(tmp_path / "out.mkv")
    with av.open(str(tmp_path / "out.mkv")) as out:
        assert out.streams.video[0].average_rate == 25  # Matroska has it from the stream header
    assert len(got) == 6 and min(psnr(a, b) for a, b in zip(got, expected)) > 35


def test_a_real_style_survives_the_encoding(tmp_path):
    from cartoongan.inference import Cartoonizer

    cartoonizer = Cartoonizer.from_pretrained("hayao_lite")
    source = make_clip(tmp_path / "clip.mp4", frames=6, width=96, height=64, audio=False)
    cartoonize_video(cartoonizer, source, tmp_path / "out.mp4")  # the default quality
    expected = cartoonizer.cartoonize_batch(video_frames(source))
    assert np.mean([psnr(a, b) for a, b in zip(video_frames(tmp_path / "out.mp4"), expected)]) > 33


@pytest.mark.parametrize("name", ["clip.mkv", "clip.mp4"])
def test_subtitles_are_copied(tmp_path, tiny, name):
    source = make_clip(tmp_path / name, frames=20, subtitles=True)
    cartoonize_video(tiny, source, tmp_path / "out" / name)
    def cues(path):  # MP4's muxer fills the gaps between cues with empty ones of its own
        return [cue for cue in packets(path, "subtitle") if cue[0] != b"\x00\x00"]

    assert len(cues(source)) == 2 and cues(tmp_path / "out" / name) == cues(source)
    assert packets(tmp_path / "out" / name, "audio") == packets(source, "audio")


def test_chapters_are_kept_and_the_source_is_never_the_destination(tmp_path, tiny):
    source = make_clip(tmp_path / "clip.mkv", frames=10, audio=False)
    chapters = [{"id": 1, "start": 0, "end": 200, "time_base": fractions.Fraction(1, 1000), "metadata": {"title": "One"}},
                {"id": 2, "start": 200, "end": 400, "time_base": fractions.Fraction(1, 1000), "metadata": {"title": "Two"}}]
    with av.open(source) as inp, av.open(str(tmp_path / "marked.mkv"), "w") as out:  # a remux with chapters
        copy = out.add_stream_from_template(inp.streams.video[0])
        out.set_chapters(chapters)
        for packet in inp.demux(inp.streams.video[0]):
            if packet.size:
                packet.stream = copy
                out.mux(packet)
    cartoonize_video(tiny, tmp_path / "marked.mkv", tmp_path / "out.mkv")
    with av.open(str(tmp_path / "out.mkv")) as out:
        assert [c["metadata"]["title"] for c in out.chapters()] == ["One", "Two"]
    with pytest.raises(ValueError, match="is the source itself"):
        cartoonize_video(tiny, source, source)


def test_variable_frame_rate_is_kept(tmp_path, tiny):
    pts = [0, 1, 2, 5, 6, 7, 12, 13, 20, 21]
    source = make_clip(tmp_path / "vfr.mp4", frames=len(pts), pts=pts, rate=25)
    cartoonize_video(tiny, source, tmp_path / "out.mp4")
    assert video_times(tmp_path / "out.mp4") == pytest.approx([p / 25 for p in pts], abs=1e-6)


def test_rotation_is_applied_to_the_pixels(tmp_path, tiny):
    source = make_clip(tmp_path / "phone.mov", frames=4, width=64, height=48, rotation=90, audio=False)
    cartoonize_video(tiny, source, tmp_path / "out.mov", quality=10)
    upright = [np.ascontiguousarray(np.rot90(frame)) for frame in video_frames(source)]
    got = video_frames(tmp_path / "out.mov")
    assert got[0].shape == (64, 48, 3)  # upright, no rotation left for the player to apply
    with av.open(str(tmp_path / "out.mov")) as out:
        assert not next(out.decode(video=0)).rotation
    assert min(psnr(a, b) for a, b in zip(got, as_yuv420(tiny.cartoonize_batch(upright)))) > 35


def test_max_size_and_odd_sizes_give_even_dimensions(tmp_path, tiny):
    assert output_size(65, 49, 0) == (64, 48)          # cropped by one pixel, not resampled
    assert output_size(1920, 1080, 1024) == (1024, 576)
    assert output_size(1080, 1920, 1000) == (562, 1000)
    assert output_size(3, 1, 0) == (2, 2)
    source = make_clip(tmp_path / "odd.mp4", frames=3, width=66, height=50, audio=False)
    cartoonize_video(tiny, source, tmp_path / "small.mp4", max_size=33)
    assert video_frames(tmp_path / "small.mp4")[0].shape == (24, 32, 3)


def test_webm_is_vp9_with_its_opus_sound_copied(tmp_path, tiny):
    source = make_clip(tmp_path / "clip.webm", frames=10, codec="libvpx-vp9")
    result = cartoonize_video(tiny, source, tmp_path / "out.webm")
    assert result.frames == 10
    with av.open(str(tmp_path / "out.webm")) as out:
        assert out.streams.video[0].codec_context.name == "vp9"
    assert packets(tmp_path / "out.webm", "audio") == packets(source, "audio")
    assert video_times(tmp_path / "out.webm") == pytest.approx(video_times(source), abs=1e-6)


def test_quality_is_checked(tmp_path, tiny):
    source = make_clip(tmp_path / "clip.mp4", frames=2, audio=False)
    with pytest.raises(ValueError, match="CRF"):
        cartoonize_video(tiny, source, tmp_path / "out.mp4", quality=52)


def test_lower_crf_gives_a_bigger_better_file(tmp_path, tiny):
    source = make_clip(tmp_path / "clip.mp4", frames=8, width=96, height=64, audio=False)
    expected = as_yuv420(tiny.cartoonize_batch(video_frames(source)))
    quality = {}
    for crf in (12, 35):
        cartoonize_video(tiny, source, tmp_path / f"{crf}.mp4", quality=crf)
        frames = video_frames(tmp_path / f"{crf}.mp4")
        quality[crf] = (os.path.getsize(tmp_path / f"{crf}.mp4"), np.mean([psnr(a, b) for a, b in zip(frames, expected)]))
    assert quality[12][0] > quality[35][0] and quality[12][1] > quality[35][1]


@pytest.mark.parametrize("damage", ["truncated", "garbled"])
def test_damaged_videos_give_what_decodes_and_say_so(tmp_path, tiny, damage):
    clean = make_clip(tmp_path / "clean.mkv", frames=60, width=160, height=120)
    data = open(clean, "rb").read()
    if damage == "truncated":
        data = data[: len(data) * 6 // 10]
    else:
        middle = len(data) // 2
        data = data[:middle] + bytes(np.random.default_rng(0).integers(0, 256, 400, dtype=np.uint8)) + data[middle + 400:]
    source = tmp_path / "damaged.mkv"
    source.write_bytes(data)
    result = cartoonize_video(tiny, source, tmp_path / "out.mkv")
    assert 0 < result.frames < 60 and result.frames == len(video_frames(tmp_path / "out.mkv"))
    assert result.errors and all(str(source) in error for error in result.errors)


def test_damaged_frames_in_mp4_are_reported(tmp_path, tiny):
    """The payload of the largest inter-coded video packet overwritten with random bytes:
    the frames decode concealed, and each problem is named with the file. (The damage is
    aimed at video data: a blind offset can land in a tiny P-frame and the audio after it,
    which the video decoder never sees.)"""
    clean = make_clip(tmp_path / "clean.mp4", frames=60, width=160, height=120, options={"movflags": "faststart"})
    data = bytearray(open(clean, "rb").read())
    with av.open(str(clean)) as container:
        packets = [(packet.size, packet.pos) for packet in container.demux(video=0)
                   if packet.size and not packet.is_keyframe]
    size, position = max(packets)
    data[position + 4:position + size] = bytes(np.random.default_rng(0).integers(0, 256, size - 4, dtype=np.uint8))
    (tmp_path / "damaged.mp4").write_bytes(bytes(data))
    result = cartoonize_video(tiny, tmp_path / "damaged.mp4", tmp_path / "out.mp4")
    # the decoder conceals what it can: every frame or nearly, each problem named
    assert 50 < result.frames <= 60 and result.errors
    assert all(str(tmp_path / "damaged.mp4") in error for error in result.errors)


@pytest.mark.parametrize("content", [b"", b"not a video at all", None])
def test_unreadable_files_raise_and_write_nothing(tmp_path, tiny, content):
    source = tmp_path / "bad.mp4"
    if content is None:  # a sound file: no video stream
        with av.open(str(source), "w") as out:
            sound = out.add_stream("aac", rate=48000)
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 48000, 0
            out.mux(sound.encode(frame))
            out.mux(sound.encode(None))
    else:
        source.write_bytes(content)
    with pytest.raises(VideoReadError, match="bad.mp4"):
        cartoonize_video(tiny, source, tmp_path / "out" / "bad.mp4")
    assert not os.path.exists(tmp_path / "out" / "bad.mp4")
    assert not os.path.isdir(tmp_path / "out") or leftovers(tmp_path / "out") == []


def test_a_live_writers_destination_is_refused(tmp_path, tiny):
    source = make_clip(tmp_path / "clip.mp4", frames=2, audio=False)
    busy = tmp_path / f".out.mp4.segments-{os.getppid()}-0123abcd"  # a live process: our parent
    busy.mkdir()
    with pytest.raises(VideoError, match="being written by process"):
        cartoonize_video(tiny, source, tmp_path / "out.mp4")
    assert busy.is_dir()


def test_a_dead_writers_folder_for_other_settings_is_discarded(tmp_path, tiny):
    source = make_clip(tmp_path / "clip.mp4", frames=4, audio=False)
    stale = tmp_path / ".out.mp4.segments-999999999-0123abcd"  # no such process
    stale.mkdir()
    (stale / "manifest.json").write_text(json.dumps({"key": {"other": 1}, "segments": [], "finished": False}))
    result = cartoonize_video(tiny, source, tmp_path / "out.mp4")
    assert result.frames == 4 and result.resumed_frames == 0 and not stale.exists()


_RUN = """
import json, sys, time
from cartoongan.inference import Cartoonizer
from cartoongan.video import cartoonize_video
cartoonizer = Cartoonizer.from_pretrained(sys.argv[1], precision="float32")
slowly = (lambda done, total: time.sleep(0.2)) if sys.argv[4] == "slowly" else None
result = cartoonize_video(cartoonizer, sys.argv[2], sys.argv[3], batch_size=2, segment_seconds=0, progress=slowly)
print(json.dumps({"frames": result.frames, "resumed_frames": result.resumed_frames,
                  "resumed_segments": result.resumed_segments}))
"""


def test_a_killed_run_leaves_no_output_and_the_next_one_resumes(tmp_path, tiny_preset):
    """Each run is a fresh process, as a user's re-run is: in the full suite's long-lived
    process the frames once came out unlike a fresh process's (never alone), and a resumed
    video mixes the killed run's segments with the next run's."""
    source = make_clip(tmp_path / "clip.mp4", frames=40)
    destination = tmp_path / "out" / "clip.mp4"

    def run(output, pace):
        return [sys.executable, "-c", _RUN, str(tiny_preset), source, str(output), pace]

    process = subprocess.Popen(run(destination, "slowly"), cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until three segments are finished
            manifests = glob.glob(str(tmp_path / "out" / ".clip.mp4.segments-*" / "manifest.json"))
            try:
                if manifests and len(json.load(open(manifests[0]))["segments"]) >= 3:
                    break
            except ValueError:
                pass
            assert process.poll() is None, "the run ended before it could be killed"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    assert not destination.exists()
    [work] = glob.glob(str(tmp_path / "out" / ".clip.mp4.segments-*"))

    def finish(output):
        completed = subprocess.run(run(output, "fast"), cwd=PROJECT_ROOT, capture_output=True, text=True,
                                   timeout=300)
        assert completed.returncode == 0, completed.stderr[-2000:]
        return json.loads(completed.stdout.splitlines()[-1])

    result = finish(destination)
    assert result["resumed_segments"] >= 3 and 0 < result["resumed_frames"] < 40 and result["frames"] == 40
    assert not os.path.exists(work) and leftovers(tmp_path / "out") == []
    assert video_times(destination) == pytest.approx(video_times(source), abs=1e-6)
    assert packets(destination, "audio") == packets(source, "audio")
    # the same frames as a run that was never interrupted (segments cut at the same batches)
    assert finish(tmp_path / "whole.mp4")["resumed_frames"] == 0
    resumed, whole = video_frames(destination), video_frames(tmp_path / "whole.mp4")
    differing = {i: int(np.abs(a.astype(int) - b).max()) for i, (a, b) in enumerate(zip(resumed, whole))
                 if not np.array_equal(a, b)}
    assert len(resumed) == len(whole) == 40 and not differing, f"frames unlike a whole run's (index: largest difference) {differing}"


def test_list_media_finds_images_and_videos(tmp_path):
    for name in ("a.jpg", "b.MP4", "c/d.mkv", "c/e.txt", ".hidden.mp4", "out/f.mov"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    found = [os.path.relpath(p, tmp_path) for p in list_media(tmp_path, skip=[tmp_path / "out"])]
    assert found == ["a.jpg", "b.MP4", os.path.join("c", "d.mkv")]


def test_the_look_is_part_of_the_resume_key(tmp_path, tiny, monkeypatch):
    """A killed run's segments are resumed only by a run with the same key (_claim_work_folder
    compares it whole), which records the look."""
    source = make_clip(tmp_path / "clip.mp4", frames=4, audio=False)
    keys = []
    real_claim = video._claim_work_folder
    monkeypatch.setattr(video, "_claim_work_folder", lambda destination, key: keys.append(key) or real_claim(
        destination, key))
    for look in ({"strength": 1.0}, {"strength": 0.5}, {"style_size": 16, "keep_colors": True}):
        cartoonize_video(tiny.with_look(**look), source, tmp_path / f"{len(keys)}.mp4")
    assert [key["look"] for key in keys] == [
        {"style_size": 0, "strength": 1.0, "keep_colors": False}, {"style_size": 0, "strength": 0.5, "keep_colors": False},
        {"style_size": 16, "strength": 1.0, "keep_colors": True}]
    assert all({k: v for k, v in key.items() if k != "look"} == {k: v for k, v in keys[0].items() if k != "look"}
               for key in keys)
