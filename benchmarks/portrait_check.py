"""Portraits measured the way they are checked (docs/portraits.md), and the pictures there.

    python benchmarks/portrait_check.py --style whitebox [--face-style animeganv3_face] [--pictures docs/]

Selfies from the end of ../shared/data/photos/selfies, each resized to 200, 320 and 440 px
and inset in the middle of a Sun-Hays 80 scene resized to 1024x768 (scenes and selfies not
used to tune the portrait constants, which were set on Urban100 scenes and selfies 280-283).
For each photo: the scene style alone and --portrait on the whole photo (max size 0), and
the face style on the inset selfie alone. A face counts when the middle quarter of the inset
changes from the scene-style run by more than 3 levels (mean absolute) and is closer to the
face-style run than to the scene style; outside the inset the portrait run must stay the
scene style's (PSNR >= 40 dB). Five more Sun-Hays 80 scenes without people: the portrait
run must equal the scene-style run.
"""

import argparse
import glob
import os

import numpy as np
from PIL import Image

from cartoongan.images import psnr
from cartoongan.inference import Cartoonizer
from cartoongan.options import DEFAULT_FACE_STYLE

PHOTOS = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "photos")


def load(path, size=None):
    image = Image.open(path).convert("RGB")
    return np.asarray(image if size is None else image.resize(size, Image.Resampling.LANCZOS))


class OnnxFace:
    """The face style's upstream ONNX file under onnxruntime, as a Cartoonizer stand-in."""

    def __init__(self, path):
        import onnxruntime

        self.session = onnxruntime.InferenceSession(path)
        self.input = self.session.get_inputs()[0]

    def __call__(self, image, progress=None):
        h, w = image.shape[:2]
        x = np.pad(image, ((0, -h % 8), (0, -w % 8), (0, 0)), mode="edge").astype(np.float32) / 127.5 - 1
        dtype = np.float16 if "float16" in self.input.type else np.float32
        y = self.session.run(None, {self.input.name: x[None].astype(dtype)})[0][0, :h, :w].astype(np.float32)
        return np.clip(np.round((y + 1) * 127.5), 0, 255).astype(np.uint8)

    def with_look(self, **changes):
        return self


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--style", default="whitebox")
    parser.add_argument("--face-style", default=DEFAULT_FACE_STYLE)
    parser.add_argument("--face-onnx", help="run this ONNX file under onnxruntime as the face style instead")
    parser.add_argument("--selfies", type=int, default=4)
    parser.add_argument("--pictures", help="write portrait_selfie.jpg and portrait_group.jpg here")
    args = parser.parse_args()
    scene = Cartoonizer.from_pretrained(args.style)
    face = OnnxFace(args.face_onnx) if args.face_onnx else Cartoonizer.from_pretrained(args.face_style)
    portrait = scene.with_portrait(face)
    selfies = sorted(glob.glob(os.path.join(PHOTOS, "selfies", "*.jpg")))[-args.selfies:]
    scenes = sorted(glob.glob(os.path.join(PHOTOS, "train", "csun_hays80", "*")))
    counted = 0
    for k, path in enumerate(selfies):
        for side in (200, 320, 440):
            photo = load(scenes[k], (1024, 768)).copy()
            selfie = load(path, (side, side))
            y, x = (768 - side) // 2, (1024 - side) // 2
            photo[y:y + side, x:x + side] = selfie
            alone, both, styled = scene(photo), portrait(photo), face(selfie)
            assert both.shape == photo.shape
            q = side // 8
            middle = (slice(y + side // 2 - q, y + side // 2 + q), slice(x + side // 2 - q, x + side // 2 + q))
            own = (slice(side // 2 - q, side // 2 + q),) * 2
            distance = lambda a, b: float(np.mean(np.abs(a.astype(np.float32) - b.astype(np.float32))))
            change, to_face = distance(both[middle], alone[middle]), distance(both[middle], styled[own])
            outside = np.ones(photo.shape[:2], bool)
            outside[y:y + side, x:x + side] = False
            kept = psnr(both[outside], alone[outside]) if (both[outside] != alone[outside]).any() else float("inf")
            good = change > 3 and to_face < change and kept >= 40
            counted += good
            print(f"{os.path.basename(path)} {side} px: centre changed {change:.1f}, to the face style {to_face:.1f}, "
                  f"outside {kept:.1f} dB {'ok' if good else 'MISSED'}", flush=True)
    print(f"faces with the face style: {counted} of {3 * len(selfies)}")
    same = 0
    for path in scenes[40:45]:
        photo = load(path, (1024, 768))
        same += bool((portrait(photo) == scene(photo)).all())
    print(f"face-free scenes as the scene style alone: {same} of 5")
    if args.pictures:
        pictures(args.pictures, scene, portrait, face)


def pictures(folder, scene, portrait, face):
    """The README's pictures, from scikit-image's public-domain photos (pip install
    scikit-image): Eileen Collins (NASA) as a selfie (photo | --portrait) and in her full
    portrait (photo | scene style | --portrait), and three copies of her head inset in the
    DSCOVR launch photo (SpaceX) as a group (photo | scene style | --portrait)."""
    from skimage import data

    astronaut = data.astronaut()
    head = np.ascontiguousarray(astronaut[0:230, 115:345])
    Image.fromarray(np.concatenate([head, portrait(head)], 1)).save(os.path.join(folder, "portrait_selfie.jpg"),
                                                                    quality=90)
    whole = [astronaut, scene(astronaut), portrait(astronaut)]
    group = np.asarray(Image.fromarray(data.rocket()).resize((1024, 683), Image.Resampling.LANCZOS)).copy()
    for x, y, side, mirrored in ((60, 300, 200, False), (420, 380, 260, True), (790, 330, 170, False)):
        inset = np.asarray(Image.fromarray(head).resize((side, side), Image.Resampling.LANCZOS))
        group[y:y + side, x:x + side] = inset[:, ::-1] if mirrored else inset
    rows = [np.concatenate(whole, 1), np.concatenate([group, scene(group), portrait(group)], 1)]
    width = rows[1].shape[1] // 2
    rows = [np.asarray(Image.fromarray(row).resize((width, round(row.shape[0] * width / row.shape[1])),
                                                   Image.Resampling.LANCZOS)) for row in rows]
    Image.fromarray(np.concatenate(rows, 0)).save(os.path.join(folder, "portrait_group.jpg"), quality=88)


if __name__ == "__main__":
    main()
