"""Video speed: frames/s of `cartoongan.video.cartoonize_video` at 480p and 720p, and its
overhead over the Cartoonizer alone on the same frames, in one run.

    python benchmarks/video.py [--styles hayao_lite hayao] [--sizes 480 720] [--frames 16 8]
                               [--repeats 2] [--batch-size 4]

Per style and size a clip is made first (in a temp dir): a slow pan across a real photo
(ADE20K from ../shared, else a synthetic picture), 25 fps H.264 with an AAC track, 16:9.
Then, alternating round by round, in this process:

- **alone**: the frames decoded beforehand (not timed), then `cartoonize_batch` over batches
  of --batch-size: the generator's own time on those frames;
- **video**: `cartoonize_video` from the file to a new mp4: probing, decoding, resizing,
  inference, flicker measurement, encoding (x264), joining and the atomic write.

It prints the medians: wall seconds, frames/s of the video path, its overhead over `alone`
(target <= 10%), the same overhead in CPU seconds of the process (less sensitive to other
jobs on a shared machine, which stretch wall times at random), and the flicker figure of
the result (mean absolute change between consecutive output frames over the input's). `--frames` gives one count per style (the full
hayao is ~6x slower). Models load once per style, before timing; precision is "auto".
"""

import argparse
import glob
import os
import resource
import statistics
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared"))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import av  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from cartoongan import Cartoonizer  # noqa: E402
from cartoongan.video import cartoonize_video  # noqa: E402

PHOTO_GLOB = os.path.join(SHARED, "data", "photos", "train", "ade20k", "*.jpg")
SIZES = {480: (854, 480), 720: (1280, 720)}


def picture(width, height):
    """A real photo scaled to cover width x height (1.25x wider, for the pan); synthetic if
    ../shared is absent."""
    photos = sorted(glob.glob(PHOTO_GLOB))
    if photos:
        image = Image.open(photos[0]).convert("RGB")
        scale = max(width * 1.25 / image.width, height / image.height)
        image = image.resize((round(image.width * scale) + 1, round(image.height * scale) + 1), Image.Resampling.LANCZOS)
        return np.asarray(image)[:height]
    y, x = np.mgrid[:height, : int(width * 1.25)]
    return np.stack([(x // 7) % 256, (y // 3) % 256, ((x + y) // 5) % 256], -1).astype(np.uint8)


def make_clip(path, size, frames):
    width, height = SIZES[size]
    canvas = picture(width, height)
    with av.open(path, "w") as out:
        video = out.add_stream("libx264", rate=25, options={"crf": "18"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        sound = out.add_stream("aac", rate=48000)
        sound.layout = "mono"
        for i in range(frames):  # a pan of 2 pixels a frame
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(canvas[:, 2 * i: 2 * i + width]), format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        tone = (0.2 * np.sin(np.arange(48000 * frames // 25) * 2 * np.pi * 440 / 48000)).astype(np.float32)
        for start in range(0, tone.size, 1024):
            chunk = av.AudioFrame.from_ndarray(tone[None, start:start + 1024].copy(), format="fltp", layout="mono")
            chunk.sample_rate, chunk.pts = 48000, start
            out.mux(sound.encode(chunk))
        out.mux(sound.encode(None))


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def decoded(path):
    with av.open(path) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--styles", nargs="+", default=["hayao_lite", "hayao"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[480, 720], choices=sorted(SIZES))
    parser.add_argument("--frames", nargs="+", type=int, default=[16, 8], help="frames per clip, one per style")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=4)
    args = parser.parse_args()
    counts = dict(zip(args.styles, args.frames + args.frames[-1:] * len(args.styles)))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for style in args.styles:
            cartoonizer = Cartoonizer.from_pretrained(style)
            for size in args.sizes:
                clip = os.path.join(tmp, f"{style}-{size}.mp4")
                make_clip(clip, size, counts[style])
                frames = decoded(clip)
                batches = [frames[i:i + args.batch_size] for i in range(0, len(frames), args.batch_size)]
                cartoonizer.cartoonize_batch(batches[0])  # tracing, for this size and batch
                alone, video, alone_cpu, video_cpu, flicker = [], [], [], [], None
                for repeat in range(args.repeats):
                    started, cpu = time.perf_counter(), cpu_seconds()
                    for batch in batches:
                        cartoonizer.cartoonize_batch(batch)
                    alone.append(time.perf_counter() - started)
                    alone_cpu.append(cpu_seconds() - cpu)
                    started, cpu = time.perf_counter(), cpu_seconds()
                    result = cartoonize_video(cartoonizer, clip, os.path.join(tmp, f"out-{repeat}.mp4"),
                                              batch_size=args.batch_size)
                    video.append(time.perf_counter() - started)
                    video_cpu.append(cpu_seconds() - cpu)
                    assert result.frames == len(frames), result
                    flicker = result.output_change / result.input_change
                a, v = statistics.median(alone), statistics.median(video)
                cpu_overhead = statistics.median(video_cpu) / statistics.median(alone_cpu) - 1
                rows.append((style, f"{size}p", len(frames), a, v, len(frames) / v, v / a - 1, cpu_overhead, flicker))
                print(f"{style} {size}p: alone {alone} (cpu {alone_cpu}), video {video} (cpu {video_cpu})",
                      file=sys.stderr, flush=True)
    print(f"{'style':11s} {'size':5s} {'frames':>6s} {'alone s':>8s} {'video s':>8s} {'video fps':>9s} "
          f"{'overhead':>8s} {'cpu overhead':>12s} {'flicker':>7s}")
    for style, size, n, a, v, fps, overhead, cpu_overhead, flicker in rows:
        print(f"{style:11s} {size:5s} {n:6d} {a:8.2f} {v:8.2f} {fps:9.3f} {overhead:+8.1%} {cpu_overhead:+12.1%} "
              f"{flicker:7.2f}")


if __name__ == "__main__":
    main()
