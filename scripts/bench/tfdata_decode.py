"""The seed study's input path, tf.data decode + resize, timed on every LFW-a JPEG.

Usage: python tfdata_decode.py LFWA_DIR [--size 125] [--repeats 2]
Prints one JSON line: {"images": N, "seconds": S, "images_per_s": R, ...} for the best repeat.
"""
import argparse
import glob
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402


def pipeline(files, size):
    def load(path):
        img = tf.io.decode_jpeg(tf.io.read_file(path), channels=1)
        return tf.image.resize(img, [size, size], method="bilinear")

    ds = tf.data.Dataset.from_tensor_slices(files)
    return ds.map(load, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--size", type=int, default=125)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    files = sorted(glob.glob(os.path.join(args.root, "lfw2", "*", "*.jpg")))
    if not files:
        raise SystemExit(f"no JPEGs under {args.root}/lfw2/*/")
    best = None
    for _ in range(args.repeats):
        start = time.perf_counter()
        n = 0
        for _img in pipeline(files, args.size):
            n += 1
        secs = time.perf_counter() - start
        best = secs if best is None else min(best, secs)
    print(json.dumps({"tool": "tf.data", "tensorflow": tf.__version__, "images": n,
                      "seconds": round(best, 3), "images_per_s": round(n / best, 1)}))


if __name__ == "__main__":
    main()
