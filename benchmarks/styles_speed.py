"""Speed and fidelity of the TFLite-born styles (White-box, AnimeGANv2 Hayao), one run.

1. At each file's own size (224 / 256), our Cartoonizer (float32 and precision="auto")
   against the peer's TFLite file under LiteRT (XNNPACK, 2 threads), alternating round by
   round: seconds per image and the ratio peer / ours (> 1: ours is faster).
2. At 1024x768: both styles against `hayao` and `hayao_lite` (Cartoonizer, "auto").
3. precision="auto" against float32: PSNR on held-out photos at 1024x768.
4. --tiles: a 3 MP photo with tile_size=512 against tile_size=0, float32: PSNR.
5. AnimeGANv3 at 512x512: our Cartoonizer (float32 and "auto") against the style's own files
   under their own runtimes, alternating round by round: the .pb under TensorFlow, float16
   copies of it (ONNX under onnxruntime, TFLite under LiteRT: `cartoongan.weights.graphdef`)
   and the published ONNX file under onnxruntime; PSNR of each against our float32 output.

    CARTOONGAN_WEIGHTS_URL=../shared/weights/cartoongan CARTOONGAN_HOME=/tmp/cghome \\
        python benchmarks/styles_speed.py [--repeats 5] [--tiles] [--only-v3 [--v3-styles STYLE ...]]
"""

import argparse
import glob
import os
import statistics
import time

import numpy as np
from PIL import Image

from cartoongan.evaluation import to_uint8, to_unit_range

SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared")
PEERS = {  # style -> (file under ../shared/weights/cartoongan, side, channel order)
    "whitebox": ("whitebox/whitebox_cartoon_gan_fp16.tflite", 224, "BGR"),
    "animeganv2_hayao": ("animeganv2_hayao/animeganv2_hayao_256x256_integer_quant.tflite", 256, "RGB"),
}


def photos(size, count):
    paths = sorted(glob.glob(os.path.join(SHARED, "data", "eval", "animegan_comparison", "photos", "*")))[:count]
    return [np.asarray(Image.open(p).convert("RGB").resize(size, Image.BICUBIC)) for p in paths]


def timed(fn, x):
    start = time.perf_counter()
    fn(x)
    return time.perf_counter() - start


def alternate(candidates, images, repeats):
    """{name: median seconds per image}, the candidates run in turn, round by round."""
    for fn in candidates.values():  # warm-up: traces, delegate set-up
        fn(images[0])
    seconds = {name: [] for name in candidates}
    for _ in range(repeats):
        for image in images:
            for name, fn in candidates.items():
                seconds[name].append(timed(fn, image))
    return {name: statistics.median(values) for name, values in seconds.items()}


def peer_runner(path, order):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path, num_threads=2)  # XNNPACK is LiteRT's default delegate
    interpreter.allocate_tensors()
    source, target = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]

    def run(image):
        x = to_unit_range(image)
        x = x[..., ::-1] if order == "BGR" else x
        interpreter.set_tensor(source, np.ascontiguousarray(x[None]))
        interpreter.invoke()
        y = interpreter.get_tensor(target)[0]
        return to_uint8(y[..., ::-1] if order == "BGR" else y)

    return run


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="rounds over the photos (default: 5)")
    parser.add_argument("--photos", type=int, default=3, help="held-out photos per round (default: 3)")
    parser.add_argument("--tiles", action="store_true", help="also the 3 MP tiles-vs-whole check (minutes)")
    parser.add_argument("--only-v3", action="store_true", help="only part 5 (AnimeGANv3 against its files)")
    parser.add_argument("--v3-styles", nargs="+", choices=list(V3_FILES), default=list(V3_FILES),
                        help="the AnimeGANv3 styles of part 5 (default: all)")
    args = parser.parse_args(argv)
    os.environ.setdefault("CARTOONGAN_WEIGHTS_URL", os.path.join(SHARED, "weights", "cartoongan"))

    from cartoongan import Cartoonizer
    from cartoongan.images import psnr

    if args.only_v3:
        return animegan_v3(args, Cartoonizer, psnr)
    print("1. each style at its file's size: ours vs the peer's TFLite (LiteRT, XNNPACK, 2 threads)")
    print(f"{'style':18s} {'size':>7s} {'peer s':>8s} {'f32 s':>8s} {'auto s':>8s} {'peer/f32':>9s} {'peer/auto':>9s}")
    for style, (file, side, order) in PEERS.items():
        images = photos((side, side), args.photos)
        candidates = {"peer": peer_runner(os.path.join(SHARED, "weights", "cartoongan", file), order),
                      "float32": Cartoonizer.from_pretrained(style, precision="float32", tile_size=0),
                      "auto": Cartoonizer.from_pretrained(style, precision="auto", tile_size=0)}
        s = alternate(candidates, images, args.repeats)
        print(f"{style:18s} {side:>3d}x{side:<3d} {s['peer']:8.4f} {s['float32']:8.4f} {s['auto']:8.4f} "
              f"{s['peer'] / s['float32']:9.2f} {s['peer'] / s['auto']:9.2f}", flush=True)

    print("\n2. 1024x768, precision auto, against hayao")
    images = photos((1024, 768), args.photos)
    styles = ["hayao", "hayao_lite", "whitebox", "animeganv2_hayao"]
    cartoonizers = {style: Cartoonizer.from_pretrained(style, precision="auto", tile_size=0) for style in styles}
    s = alternate(cartoonizers, images, max(1, args.repeats // 2))
    for style in styles:
        print(f"{style:18s} {s[style]:7.3f} s/image   {s['hayao'] / s[style]:5.2f}x hayao's speed", flush=True)

    print("\n3. precision auto vs float32 at 1024x768 (PSNR of the uint8 outputs)")
    for style in PEERS:
        exact = Cartoonizer.from_pretrained(style, precision="float32", tile_size=0)
        scores = [psnr(cartoonizers[style](image), exact(image)) for image in images]
        print(f"{style:18s} mean {np.mean(scores):6.2f} dB, worst {min(scores):6.2f} dB", flush=True)

    if args.tiles:
        print("\n4. 3 MP (2000x1500), float32: tile_size 512 vs 0 (PSNR)")
        (image,) = photos((2000, 1500), 1)
        for style in PEERS:
            whole = Cartoonizer.from_pretrained(style, precision="float32", tile_size=0)(image)
            start = time.perf_counter()
            tiled = Cartoonizer.from_pretrained(style, precision="float32", tile_size=512)(image)
            print(f"{style:18s} {psnr(whole, tiled):6.2f} dB ({time.perf_counter() - start:.0f} s tiled)", flush=True)
    animegan_v3(args, Cartoonizer, psnr)


V3_FILES = {  # style -> its published file under ../shared/weights/cartoongan/<style>/
    "animeganv3_hayao": "AnimeGANv3_Hayao_36.pb",
    "animeganv3_shinkai": "AnimeGANv3_Shinkai_37.pb",
    "animeganv3_sketch": "AnimeGANv3_PortraitSketch_fp16.onnx",
    "animeganv3_cute": "AnimeGANv3_tiny_Cute.onnx",
}


def _unit(image):
    """One uint8 photo -> a batch of one in [-1, 1] (`evaluation.to_unit_range`)."""
    return to_unit_range(image)[None]


def _uint8(y):
    """A batch of one in [-1, 1] -> its uint8 photo (`evaluation.to_uint8`)."""
    return to_uint8(np.asarray(y)[0])


def onnx_runner(model):
    """`model`: a path or serialized bytes; float16 or float32 input as the file declares."""
    import onnxruntime

    session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
    feed = session.get_inputs()[0]
    dtype = np.float16 if "float16" in feed.type else np.float32
    return lambda image: _uint8(session.run(None, {feed.name: _unit(image).astype(dtype)})[0])


def tflite_runner(content, side):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=content, num_threads=2)
    source = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(source, [1, side, side, 3])
    interpreter.allocate_tensors()
    target = interpreter.get_output_details()[0]["index"]

    def run(image):
        interpreter.set_tensor(source, _unit(image))
        interpreter.invoke()
        return _uint8(interpreter.get_tensor(target))

    return run


def animegan_v3(args, Cartoonizer, psnr, side=512):
    import tensorflow as tf

    from cartoongan.families.animegan_v3.convert import PB_INPUT, PB_OUTPUT
    from cartoongan.weights import graphdef

    print(f"\n5. AnimeGANv3 at {side}x{side}: seconds per image (median) and PSNR against our float32 output")
    images = photos((side, side), args.photos)
    for style in args.v3_styles:
        file = V3_FILES[style]
        path = os.path.join(SHARED, "weights", "cartoongan", style, file)
        candidates = {"ours float32": Cartoonizer.from_pretrained(style, precision="float32", tile_size=0),
                      "ours auto": Cartoonizer.from_pretrained(style, precision="auto", tile_size=0)}
        if file.endswith(".pb"):
            function = graphdef.graph_function(path, PB_INPUT, PB_OUTPUT)
            candidates["file .pb, TensorFlow"] = lambda image, f=function: _uint8(f(tf.constant(_unit(image))))
            candidates["fp16 ONNX copy, onnxruntime"] = onnx_runner(
                graphdef.float16_onnx(path, PB_INPUT, PB_OUTPUT).SerializeToString())
            candidates["fp16 TFLite copy, LiteRT"] = tflite_runner(graphdef.float16_tflite(path, PB_INPUT, PB_OUTPUT),
                                                                  side)
        else:
            candidates["file .onnx, onnxruntime"] = onnx_runner(path)
        s = alternate(candidates, images, args.repeats)
        reference = [candidates["ours float32"](image) for image in images]
        fastest_peer = min(v for k, v in s.items() if not k.startswith("ours"))
        for name, seconds in s.items():
            score = np.mean([psnr(candidates[name](image), ref) for image, ref in zip(images, reference)])
            print(f"{style:19s} {name:28s} {seconds:7.3f} s  {score:7.2f} dB", flush=True)
        print(f"{style:19s} fastest file runtime / ours auto: {fastest_peer / s['ours auto']:.2f}x", flush=True)


if __name__ == "__main__":
    main()
