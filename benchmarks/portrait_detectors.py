"""Face detectors compared for `--portrait` (the table in docs/portraits.md).

    python benchmarks/portrait_detectors.py --detector mtcnn > mtcnn.json
    PYTHONPATH=<opencv 4 with its cascades> python benchmarks/portrait_detectors.py --detector haar > haar.json

Sets from ../shared/data/photos: the 300 selfies (one face each: found = at least one face,
and the largest one's centre within the middle half of the crop); selfies 200..299 inset
into Urban100 scenes at 200, 320 and 440 px in 1024x768 photos (found = a face whose centre
lies inside the inset); ADE20K (people at many sizes, unlabelled: faces reported); Urban100
and Sun-Hays 80 (buildings and scenes: every face reported counts as a candidate false face).
Faces under cartoongan.portrait.MIN_FACE px are dropped by both. Time per photo is the
detector's own call (MTCNN's includes shrinking the photo), after one warm-up.
"""

import argparse
import glob
import json
import os
import sys
import time

import numpy as np
from PIL import Image

PHOTOS = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "photos")


def load(path):
    return np.asarray(Image.open(path).convert("RGB"))


def mtcnn_detector():
    from cartoongan.portrait import FaceDetector

    detector = FaceDetector()
    return lambda image: [(f.x - f.width / 2, f.y - f.height / 2, f.x + f.width / 2, f.y + f.height / 2)
                          for f in detector.detect(image)]


def haar_detector():
    import cv2

    from cartoongan.portrait import MIN_FACE

    cascade = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml"))

    def detect(image):
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        found = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(MIN_FACE, MIN_FACE))
        return [(x, y, x + w, y + h) for x, y, w, h in found]

    return detect


def inset(scene, selfie, side):
    """The selfie resized to side x side in the middle of the scene resized to 1024x768."""
    canvas = np.asarray(Image.fromarray(scene).resize((1024, 768), Image.Resampling.LANCZOS)).copy()
    face = np.asarray(Image.fromarray(selfie).resize((side, side), Image.Resampling.LANCZOS))
    y, x = (768 - side) // 2, (1024 - side) // 2
    canvas[y:y + side, x:x + side] = face
    return canvas, (x, y, x + side, y + side)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detector", choices=("mtcnn", "haar"), required=True)
    parser.add_argument("--limit", type=int, default=0, help="photos a set at most (0: all)")
    args = parser.parse_args()
    detect = {"mtcnn": mtcnn_detector, "haar": haar_detector}[args.detector]()
    cut = (lambda files: files[:args.limit]) if args.limit else (lambda files: files)
    selfies = sorted(glob.glob(os.path.join(PHOTOS, "selfies", "*.jpg")))
    detect(load(selfies[0]))  # warm-up
    times, report = [], {"detector": args.detector}

    def timed(image):
        start = time.perf_counter()
        boxes = detect(image)
        times.append(time.perf_counter() - start)
        return boxes

    centre = lambda b: ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)
    inside = lambda p, r: r[0] <= p[0] <= r[2] and r[1] <= p[1] <= r[3]
    found = 0
    for path in cut(selfies):
        image = load(path)
        h, w = image.shape[:2]
        boxes = timed(image)
        found += any(inside(centre(b), (w / 4, h / 4, 3 * w / 4, 3 * h / 4)) for b in boxes)
    report["selfies"] = {"photos": len(cut(selfies)), "found": found}
    scenes = sorted(glob.glob(os.path.join(PHOTOS, "train", "curban100", "*")))
    for side in (200, 320, 440):
        found = total = extra = 0
        for i, path in enumerate(cut(selfies[200:300])):
            image, rect = inset(load(scenes[i % len(scenes)]), load(path), side)
            boxes = timed(image)
            total += 1
            found += any(inside(centre(b), rect) for b in boxes)
            extra += sum(not inside(centre(b), rect) for b in boxes)
        report[f"inset_{side}"] = {"photos": total, "found": found, "faces_outside_inset": extra}
    for name, folders in (("ade20k", ["ade20k"]), ("scenes_without_people", ["curban100", "csun_hays80"])):
        files = [f for folder in folders for f in cut(sorted(glob.glob(os.path.join(PHOTOS, "train", folder, "*"))))]
        with_faces = faces = 0
        for path in files:
            boxes = timed(load(path))
            with_faces += bool(boxes)
            faces += len(boxes)
        report[name] = {"photos": len(files), "photos_with_faces": with_faces, "faces": faces}
    report["seconds_per_photo_median"] = float(np.median(times))
    json.dump(report, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
