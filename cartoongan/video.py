"""Cartoonizing videos: decode -> batches -> Cartoonizer -> encode, sound kept, resumable.

`cartoonize_video(cartoonizer, source, destination)` decodes the first video stream with
PyAV (FFmpeg's libraries, in-process), runs its frames through the Cartoonizer in batches
and encodes them (H.264 yuv420p; VP9 for .webm) with the input's own timestamps, so the
frame count, frame rate and variable frame timing are kept. Audio and subtitle streams are
copied packet for packet, never re-encoded. Decoding and encoding run in threads beside
inference, through bounded queues.

A long video never loses work. Frames are encoded into segments (each one an independent
stream that starts with a key frame) in a hidden work folder beside the destination,
`.NAME.segments-PID-RANDOM`: the writer's process id tells a later run whether the folder
belongs to a live writer or to a killed one, whose folder it then takes over and resumes
after its last finished segment, if its manifest records the same source, encoder settings,
size, style weights and look (style size, strength, colour keeping): a run with other
settings starts afresh rather than mix two looks in one video. At the end the segments are joined into the destination
without re-encoding, written atomically (a killed run leaves nothing under its name), and
the work folder is removed.

Flicker is measured, not smoothed: the result gives the mean change between consecutive
frames of the input and of the output. Frame-by-frame hayao and hayao_lite change less
than their input on a still, noisy shot (0.66 levels a frame against 2.26) and about as
much on a pan (0.8-1.2x); a motion-gated blend with the previous output took the still
shot from 0.66 to 0.5 levels, an invisible gain, while it already drifted from the
per-frame result on the pan (45 dB), so no such option is offered.
"""

import contextlib
import dataclasses
import hashlib
import json
import os
import queue
import re
import shutil
import threading
import time
import uuid

import numpy as np

from cartoongan.atomic import atomic_file
from cartoongan.images import IMAGE_EXTENSIONS, list_images

VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi")

# Constant-rate-factor defaults (lower is better): 20 is close to transparent for H.264 on
# cartoon-like frames; VP9's scale is different (0-63), 32 is its usual "good" setting.
DEFAULT_QUALITY = {"libx264": 20, "libvpx-vp9": 32}
QUALITY_RANGE = {"libx264": (0, 51), "libvpx-vp9": (0, 63)}
# No B-frames: decode order equals presentation order, so every packet's timestamps are the
# frame's own and segments join end to end (costs a few percent of bitrate, no quality).
_ENCODER_OPTIONS = {
    "libx264": {"preset": "medium", "bf": "0"},
    # no alternate reference frames: no hidden frames, one packet per frame
    "libvpx-vp9": {"b": "0", "deadline": "good", "cpu-used": "5", "row-mt": "1",
                   "auto-alt-ref": "0", "lag-in-frames": "0"},
}
# A segment is closed after this much wall time (at a batch boundary): what a killed run
# can lose. Each segment starts with a key frame, so much shorter costs bitrate.
DEFAULT_SEGMENT_SECONDS = 15.0
MAX_SEGMENT_FRAMES = 250  # x264's default key frame interval
_MANIFEST = "manifest.json"
_MANIFEST_VERSION = 1
_WORK_FOLDER = re.compile(r"^\.(?P<name>.+)\.segments-(?P<pid>\d+)-[0-9a-f]+$")
_COPIED_STREAM_TYPES = ("audio", "subtitle")


class VideoError(Exception):
    """A video cannot be cartoonized; the message names the file."""


class VideoReadError(VideoError, ValueError):
    """A video file is unreadable, has no video stream or no frame that decodes."""


@dataclasses.dataclass
class VideoResult:
    source: str
    destination: str
    frames: int               # frames written (all of them, resumed ones included)
    resumed_frames: int       # frames taken from an earlier, killed run's segments
    resumed_segments: int
    seconds: float            # this run's wall time
    # Flicker, over this run's consecutive frames: mean |frame[t] - frame[t-1]| in 0-255
    # levels of the input and of the output; `flicker` is their ratio (None on a still shot,
    # input change under half a level, where the ratio says nothing)
    input_change: float | None
    output_change: float | None
    errors: list              # decoding problems ("file: what"): the frames that decoded were written

    @property
    def flicker(self):
        if self.input_change is None or self.input_change < 0.5:
            return None
        return self.output_change / self.input_change


def video_codec_for(path):
    """The encoder for a destination: VP9 for .webm (the format allows nothing else
    widely playable), H.264 otherwise."""
    return "libvpx-vp9" if path.lower().endswith(".webm") else "libx264"


def is_video(path):
    return path.lower().endswith(VIDEO_EXTENSIONS)


def list_media(folder, skip=()):
    """Every image and video file below `folder`: `images.list_images` with videos too."""
    return list_images(folder, skip=skip, extensions=IMAGE_EXTENSIONS + VIDEO_EXTENSIONS)


def output_size(width, height, max_size):
    """(width, height) after shrinking the long side to `max_size` (0: no limit; never
    enlarging), made even as yuv420p needs: a resized frame is rounded to even sizes, a
    kept one loses its odd last column or row (cropped, not resampled)."""
    scale = max_size / max(width, height) if max_size and max(width, height) > max_size else 1.0
    if scale < 1.0:
        width, height = round(width * scale), round(height * scale)
    return max(2, width - width % 2), max(2, height - height % 2)


def check_quality(destination, quality):
    """The CRF a video written to `destination` gets: `quality`, or the codec's default;
    ValueError when out of the codec's range."""
    codec = video_codec_for(os.fspath(destination))
    if quality is None:
        return DEFAULT_QUALITY[codec]
    low, high = QUALITY_RANGE[codec]
    if not low <= quality <= high:
        raise ValueError(f"video quality (CRF) for {codec} ({os.path.basename(destination)}) must be in "
                         f"[{low}, {high}], got {quality}")
    return quality


def cartoonize_video(cartoonizer, source, destination, max_size=0, quality=None, batch_size=4,
                     segment_seconds=DEFAULT_SEGMENT_SECONDS, progress=None):
    """Cartoonizes the video `source` into `destination` (its extension picks the container;
    see the module docstring). Returns a VideoResult.

    max_size: shrink so the long side is at most this (0: keep the size).
    quality: the encoder's CRF (lower is better; default DEFAULT_QUALITY for the codec).
    progress: called as progress(frames_done, frames_total) as frames are finished
    (frames_total is an estimate where the container does not say).
    Raises VideoReadError when nothing can be decoded (nothing is written then) and
    VideoError when another live process is writing the same destination."""
    import av

    started = time.monotonic()
    source, destination = os.fspath(source), os.path.abspath(destination)
    if os.path.exists(destination) and os.path.samefile(source, destination):
        raise ValueError(f"{destination}: is the source itself; it would be overwritten")
    codec = video_codec_for(destination)
    crf = check_quality(destination, quality)
    probe = _probe(source)
    width, height = output_size(probe["width"], probe["height"], max_size)
    key = {"version": _MANIFEST_VERSION, "source": os.path.abspath(source), "size": probe["file_size"],
           "mtime_ns": probe["mtime_ns"], "codec": codec, "crf": crf, "width": width, "height": height,
           "cartoonizer": cartoonizer_fingerprint(cartoonizer), "look": cartoonizer.look.to_dict()}
    work, manifest = _claim_work_folder(destination, key)
    done = sum(segment["frames"] for segment in manifest["segments"])
    result = VideoResult(source, destination, 0, done, len(manifest["segments"]), 0.0, None, None, [])
    if progress:
        progress(done, max(done, probe["frames"]))
    if not manifest["finished"]:
        pipeline = _Pipeline(cartoonizer, source, work, manifest, codec, crf, (width, height), probe,
                             batch_size, segment_seconds, progress)
        pipeline.run()
        result.input_change, result.output_change = pipeline.changes()
    result.errors = list(manifest["errors"])
    result.frames = sum(segment["frames"] for segment in manifest["segments"])
    if not result.frames:
        shutil.rmtree(work, ignore_errors=True)
        raise VideoReadError(f"{source}: no video frame could be decoded"
                             + (f" ({'; '.join(result.errors)})" if result.errors else ""))
    try:
        _join(source, work, manifest, destination)
    except av.error.FFmpegError as error:
        raise VideoError(f"{destination}: cannot write ({error})") from error
    shutil.rmtree(work, ignore_errors=True)
    result.seconds = time.monotonic() - started
    return result


def cartoonizer_fingerprint(cartoonizer):
    """What identifies a Cartoonizer's results: its weights, preprocessing and precision
    (a resumed video must not mix the segments of two styles)."""
    digest = hashlib.sha256(repr((cartoonizer.preprocessing, cartoonizer.precision)).encode())
    portrait = getattr(cartoonizer, "portrait", None)
    if portrait is not None:  # a portrait's segments differ from the scene style's alone
        digest.update(cartoonizer_fingerprint(portrait.face).encode())
    for weight in cartoonizer.generator.weights:
        value = np.asarray(weight.numpy())
        digest.update(str((value.shape, value.dtype)).encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()[:16]


# --- reading ---------------------------------------------------------------------------

def _open_input(source):
    import av

    try:
        container = av.open(source, metadata_errors="ignore")
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as error:
        raise VideoReadError(f"{source}: cannot read video ({error})") from error
    if not container.streams.video:
        container.close()
        raise VideoReadError(f"{source}: no video stream")
    stream = container.streams.video[0]
    # Slice threads only: frame-threaded decoding reports damage with a delay and depends on
    # thread timing; decoding costs a few ms a frame against seconds of inference.
    stream.thread_type = "SLICE"
    return container, stream


def _probe(source):
    """Facts about the source's first video stream; its first frame is decoded for its size
    and rotation (the container's figures are not always the decoder's)."""
    status = os.stat(source)
    container, stream = _open_input(source)
    with container:
        first = next(_decode(container, stream, []), None)
        if first is None:
            raise VideoReadError(f"{source}: no video frame could be decoded")
        rotation = round((first.rotation or 0) / 90) % 4
        width, height = (first.height, first.width) if rotation % 2 else (first.width, first.height)
        # MP4, MOV and AVI headers count the frames; otherwise: duration x rate
        frames, exact = stream.frames, bool(stream.frames)
        rate = stream.average_rate or stream.guessed_rate
        if not frames and rate:
            duration = _stream_duration(stream) or (container.duration or 0) / 1_000_000
            frames = int(round(float(duration * rate)))
        return {"width": width, "height": height, "rotation": rotation, "frames": frames or 0,
                "frames_exact": exact, "rate": rate, "time_base": stream.time_base, "file_size": status.st_size,
                "mtime_ns": status.st_mtime_ns, "colorspace": first.colorspace,
                "color_range": first.color_range}


def _stream_duration(stream):
    """Seconds, from the stream's header or the DURATION tag Matroska writers add; or None."""
    if stream.duration:
        return float(stream.duration * stream.time_base)
    match = re.fullmatch(r"(\d+):(\d+):(\d+(?:\.\d*)?)", stream.metadata.get("DURATION", "").strip())
    return int(match[1]) * 3600 + int(match[2]) * 60 + float(match[3]) if match else None


def _decode(container, stream, errors, limit=100):
    """Decoded frames of `stream`, in presentation order. A packet that fails to decode is
    recorded in `errors` and skipped (the next key frame recovers); an unreadable rest of
    the file ends the stream, recorded too. Gives up after `limit` errors."""
    import av

    name = container.name
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            break
        except av.error.FFmpegError as error:
            errors.append(f"{name}: the file is unreadable past this point ({error.strerror or error})")
            packet = None  # flush the decoder, then stop
        try:
            for frame in stream.decode(packet):
                if frame.is_corrupt:
                    errors.append(f"{name}: damaged frame at {_frame_time(frame)} (decoded with errors)")
                yield frame
        except av.error.FFmpegError as error:
            errors.append(f"{name}: undecodable data at {_packet_time(packet)} ({error.strerror or error})")
            if len(errors) >= limit:
                errors.append(f"{name}: too many errors; the rest was not decoded")
                return
        if packet is None:
            return
    with contextlib.suppress(av.error.FFmpegError):
        yield from stream.decode(None)


def _frame_time(frame):
    return "?" if frame.pts is None or frame.time_base is None else f"{float(frame.pts * frame.time_base):.3f} s"


def _packet_time(packet):
    if packet is None or packet.pts is None or packet.time_base is None:
        return "the end"
    return f"{float(packet.pts * packet.time_base):.3f} s"


# --- the work folder -------------------------------------------------------------------

def _claim_work_folder(destination, key):
    """(path, manifest) of this run's work folder: a killed writer's folder for the same
    source and settings is taken over (renamed to carry this process's id); other leftovers
    of dead writers are removed; a live writer's folder means the destination is busy."""
    from cartoongan.atomic import is_running

    directory, name = os.path.split(destination)
    os.makedirs(directory, exist_ok=True)
    mine = os.path.join(directory, f".{name}.segments-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    adopted = None
    for entry in sorted(os.listdir(directory)):
        match = _WORK_FOLDER.match(entry)
        if not match or match["name"] != name:
            continue
        path = os.path.join(directory, entry)
        if int(match["pid"]) != os.getpid() and is_running(int(match["pid"])):
            raise VideoError(f"{destination}: being written by process {match['pid']} ({path})")
        if adopted is None and _read_manifest(path).get("key") == key:
            with contextlib.suppress(FileNotFoundError):  # another run may have taken it first
                os.rename(path, mine)
                adopted = mine
                continue
        shutil.rmtree(path, ignore_errors=True)
    if adopted is None:
        os.mkdir(mine)
        manifest = {"key": key, "segments": [], "finished": False, "errors": []}
        _write_manifest(mine, manifest)
        return mine, manifest
    manifest = _read_manifest(mine)
    # Segments the manifest lists are complete (it is written after each one is closed);
    # anything else in the folder is a killed writer's partial segment.
    listed = {segment["file"] for segment in manifest["segments"]} | {_MANIFEST}
    for entry in os.listdir(mine):
        if entry not in listed:
            with contextlib.suppress(OSError):
                os.remove(os.path.join(mine, entry))
    return mine, manifest


def _read_manifest(folder):
    try:
        with open(os.path.join(folder, _MANIFEST)) as file:
            manifest = json.load(file)
        return manifest if isinstance(manifest, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_manifest(folder, manifest):
    with atomic_file(os.path.join(folder, _MANIFEST)) as partial, open(partial, "w") as file:
        json.dump(manifest, file, indent=1)


# --- the pipeline ----------------------------------------------------------------------

_END = object()


class _Pipeline:
    """Decoding thread -> (bounded queue) -> inference, here -> (bounded queue) -> encoding
    thread. The encoding thread owns the segments and the manifest."""

    def __init__(self, cartoonizer, source, work, manifest, codec, crf, size, probe, batch_size,
                 segment_seconds, progress):
        self.cartoonizer, self.source, self.work, self.manifest = cartoonizer, source, work, manifest
        self.codec, self.crf, self.size, self.probe = codec, crf, size, probe
        self.batch_size, self.segment_seconds, self.progress = max(1, batch_size), segment_seconds, progress
        self.start = sum(segment["frames"] for segment in manifest["segments"])
        self.decoded = queue.Queue(maxsize=2 * self.batch_size)
        self.encoded = queue.Queue(maxsize=2 * self.batch_size)
        self.stop = threading.Event()
        self.failure = None
        self.errors = []
        self.in_change = self.out_change = 0.0
        self.pairs = 0
        # Portraits: faces followed from frame to frame, so the face style does not jump.
        self.batch_options = {}
        if getattr(cartoonizer, "portrait", None) is not None:
            from cartoongan.portrait import FaceTracker

            self.batch_options = {"tracker": FaceTracker()}

    def run(self):
        threads = [threading.Thread(target=self._guard, args=(self._read,), daemon=True, name="video-decode"),
                   threading.Thread(target=self._guard, args=(self._write,), daemon=True, name="video-encode")]
        for thread in threads:
            thread.start()
        try:
            self._infer()
        except BaseException:
            self.stop.set()
            raise
        finally:
            if self.stop.is_set():
                for thread in threads:  # they notice `stop` within a fraction of a second
                    thread.join(timeout=10)
            else:
                threads[1].join()
        if self.failure is not None:
            raise self.failure

    def changes(self):
        if not self.pairs:
            return None, None
        return self.in_change / self.pairs, self.out_change / self.pairs

    def _guard(self, work):
        try:
            work()
        except BaseException as error:  # handed to the main thread
            self.failure = error
            self.stop.set()

    def _put(self, q, item):
        while not self.stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def _get(self, q):
        while not self.stop.is_set():
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                pass
        return _END

    def _read(self):
        container, stream = _open_input(self.source)
        width, height = self.size
        rotation = self.probe["rotation"]
        stored = (height, width) if rotation % 2 else (width, height)  # before rotating
        last_pts = None
        with container:
            for index, frame in enumerate(_decode(container, stream, self.errors)):
                if self.stop.is_set():
                    return
                pts = frame.pts if frame.pts is not None else frame.dts
                if pts is None or (last_pts is not None and pts <= last_pts):
                    pts = 0 if last_pts is None else last_pts + 1  # keeps timestamps increasing
                last_pts = pts
                if index < self.start:
                    continue  # done by an earlier run
                if (frame.width, frame.height) == stored or (frame.width - frame.width % 2, frame.height - frame.height % 2) == stored:
                    rgb = frame.to_ndarray(format="rgb24")[:stored[1], :stored[0]]
                else:
                    rgb = frame.to_ndarray(format="rgb24", width=stored[0], height=stored[1], interpolation="AREA")
                if rotation:
                    rgb = np.rot90(rgb, rotation)
                if not self._put(self.decoded, (index, pts, np.ascontiguousarray(rgb))):
                    return
        self._put(self.decoded, _END)

    def _infer(self):
        total = max(self.probe["frames"], self.start)
        done = self.start
        segment_started = time.monotonic()
        segment_frames = 0
        previous = None
        finished = False
        while not finished and not self.stop.is_set():
            batch = []
            while len(batch) < self.batch_size:
                item = self._get(self.decoded)
                if item is _END:
                    finished = True
                    break
                batch.append(item)
            if self.stop.is_set():
                return
            if batch:
                outputs = self.cartoonizer.cartoonize_batch([rgb for _, _, rgb in batch], **self.batch_options)
                for (index, pts, rgb), output in zip(batch, outputs):
                    if previous is not None and previous[0] == index - 1:
                        self._measure(previous[1], rgb, previous[2], output)
                    previous = (index, rgb, output)
                    if not self._put(self.encoded, (index, pts, output)):
                        return
                done += len(batch)
                segment_frames += len(batch)
                if self.progress:
                    self.progress(done, max(total, done))
            if finished:
                self._put(self.encoded, _END)
            elif (time.monotonic() - segment_started >= self.segment_seconds
                  or segment_frames + self.batch_size > MAX_SEGMENT_FRAMES):
                self._put(self.encoded, "segment")
                segment_started, segment_frames = time.monotonic(), 0

    def _measure(self, previous_in, current_in, previous_out, current_out):
        # every other pixel: the mean changes little, the cost halves twice
        def change(a, b):
            return float(np.mean(np.abs(a[::2, ::2].astype(np.int16) - b[::2, ::2].astype(np.int16))))

        self.in_change += change(previous_in, current_in)
        self.out_change += change(previous_out, current_out)
        self.pairs += 1

    def _write(self):
        segment = None
        while True:
            item = self._get(self.encoded)
            if self.stop.is_set():
                if segment is not None:
                    segment.abandon()
                return
            if item is _END or item == "segment":
                if segment is not None:
                    self._close_segment(segment, finished=item is _END)
                    segment = None
                elif item is _END:
                    self._finish_manifest()
                if item is _END:
                    return
                continue
            index, pts, rgb = item
            if segment is None:
                segment = _Segment(self.work, index, self.codec, self.crf, self.size, self.probe)
            segment.add(rgb, pts)

    def _close_segment(self, segment, finished):
        segment.close()
        self.manifest["segments"].append({"file": segment.file, "start": segment.start, "frames": segment.frames,
                                          "first_pts": segment.first_pts, "last_pts": segment.last_pts})
        if finished:
            self._finish_manifest()
        else:
            _write_manifest(self.work, self.manifest)

    def _finish_manifest(self):
        self.manifest["finished"] = True
        self.manifest["errors"] = list(dict.fromkeys(self.errors))
        probe_frames = self.probe["frames"]
        frames = sum(segment["frames"] for segment in self.manifest["segments"])
        # A file cut short or damaged in its structure often decodes "cleanly" to fewer frames.
        if frames < probe_frames if self.probe["frames_exact"] else frames < 0.9 * probe_frames - 1:
            about = "" if self.probe["frames_exact"] else "about "
            self.manifest["errors"].append(f"{self.source}: truncated or damaged: {frames} frames decoded, "
                                           f"its header announces {about}{probe_frames}")
        _write_manifest(self.work, self.manifest)


class _Segment:
    """One independently decodable run of encoded frames in a NUT file (FFmpeg's own
    container: any codec, any time base kept exactly), written under a temporary name and
    renamed once complete."""

    def __init__(self, work, start, codec, crf, size, probe):
        import av

        self.start, self.frames, self.first_pts, self.last_pts = start, 0, None, None
        self.file = f"segment-{start:09d}.nut"
        self.path = os.path.join(work, self.file)
        self.partial = self.path + ".partial"
        self.container = av.open(self.partial, "w", format="nut")
        options = dict(_ENCODER_OPTIONS[codec], crf=str(crf))
        rate = probe["rate"] or 25
        self.stream = self.container.add_stream(codec, rate=rate, options=options)
        self.stream.width, self.stream.height = size
        self.stream.pix_fmt = "yuv420p"
        self.stream.time_base = probe["time_base"]
        self.stream.codec_context.time_base = probe["time_base"]

    def add(self, rgb, pts):
        import av

        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = pts
        frame.time_base = self.stream.codec_context.time_base
        self.container.mux(self.stream.encode(frame))
        self.frames += 1
        self.first_pts = pts if self.first_pts is None else self.first_pts
        self.last_pts = pts

    def close(self):
        self.container.mux(self.stream.encode(None))
        self.container.close()
        os.replace(self.partial, self.path)

    def abandon(self):
        with contextlib.suppress(Exception):
            self.container.close()
        with contextlib.suppress(OSError):
            os.remove(self.partial)


# --- joining ---------------------------------------------------------------------------

def _join(source, work, manifest, destination):
    """Writes the destination: the segments' packets as they are, with the source's audio
    and subtitle packets as they are, interleaved by time."""
    import heapq

    import av

    extension = os.path.splitext(destination)[1]
    with atomic_file(destination, suffix=extension) as partial:
        with av.open(source, metadata_errors="ignore") as inp, av.open(partial, "w") as out:
            segments = [os.path.join(work, segment["file"]) for segment in manifest["segments"]]
            with av.open(segments[0]) as first:
                video = out.add_stream_from_template(first.streams.video[0])
            # the source's time base: the timestamps are the source's, in its own units
            video.time_base = inp.streams.video[0].time_base
            source_video = inp.streams.video[0]
            if source_video.average_rate:  # Matroska writes it as the default frame duration
                video.codec_context.framerate = source_video.average_rate
            video.metadata.update({k: v for k, v in source_video.metadata.items() if k in ("language", "title")})
            copied = {}
            for stream in inp.streams:
                if stream.type not in _COPIED_STREAM_TYPES:
                    continue
                try:
                    copy = out.add_stream_from_template(stream)
                except (av.error.FFmpegError, ValueError) as error:
                    raise VideoError(f"{destination}: cannot hold the {stream.type} stream "
                                     f"{stream.index} ({stream.codec_context.name}) of {source}: {error}") from error
                copy.time_base = stream.time_base
                copy.metadata.update(stream.metadata)
                copied[stream.index] = copy
            for k, v in inp.metadata.items():
                if k in ("title", "creation_time", "date", "artist", "comment", "location"):
                    out.metadata[k] = v
            with contextlib.suppress(av.error.FFmpegError, ValueError):
                out.set_chapters(inp.chapters())

            def video_packets():
                for path in segments:
                    with av.open(path) as segment:
                        for packet in segment.demux(segment.streams.video[0]):
                            if packet.size:
                                packet.stream = video
                                yield packet

            def copied_packets():
                if not copied:
                    return
                try:
                    for packet in inp.demux([inp.streams[i] for i in copied]):
                        if packet.size:
                            packet.stream = copied[packet.stream.index]
                            yield packet
                except av.error.FFmpegError:
                    return  # a truncated source: the sound up to where it breaks

            for packet in heapq.merge(_timed(video_packets(), 0), _timed(copied_packets(), 1)):
                out.mux(packet[-1])


def _timed(packets, rank):
    """(time in seconds, rank, sequence number, packet): the order the muxer wants them in
    (at equal times, the source of lower rank first)."""
    last = 0.0
    for number, packet in enumerate(packets):
        stamp = packet.dts if packet.dts is not None else packet.pts
        if stamp is not None and packet.time_base is not None:
            last = float(stamp * packet.time_base)
        yield last, rank, number, packet
