"""The seed study's best model in TensorFlow-CPU Keras, timed with train_on_batch.

Usage: python keras_train.py [--batch 128] [--steps 5] [--size 125]
Prints one JSON line per batch size: {"tool": "keras", "batch": B, "pairs_per_s": R, ...}.
Same model as twinflow's default: conv 8/16/32/64 with kernels 10/7/4/4 (ReLU, 2x2 max pool
after the first three), dense 2048 sigmoid, L1 distance, dense(1) sigmoid, BCE, Adam 1e-4.
"""
import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow import keras  # noqa: E402
from tensorflow.keras import layers, regularizers  # noqa: E402


def twin(size):
    w = keras.initializers.RandomNormal(0.0, 1e-2)
    b = keras.initializers.RandomNormal(0.5, 1e-2)
    inp = keras.Input((size, size, 1))
    x = inp
    for i, (f, k) in enumerate([(8, 10), (16, 7), (32, 4), (64, 4)]):
        x = layers.Conv2D(f, k, activation="relu", kernel_initializer=w, bias_initializer=b,
                          kernel_regularizer=regularizers.l2(2e-4))(x)
        if i < 3:
            x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dense(2048, activation="sigmoid", kernel_initializer=keras.initializers.RandomNormal(0, 0.2),
                     bias_initializer=b, kernel_regularizer=regularizers.l2(1e-3))(x)
    return keras.Model(inp, x)


def siamese(size):
    t = twin(size)
    a, b = keras.Input((size, size, 1)), keras.Input((size, size, 1))
    d = layers.Lambda(lambda z: tf.abs(z[0] - z[1]))([t(a), t(b)])
    out = layers.Dense(1, activation="sigmoid")(d)
    model = keras.Model([a, b], out)
    # No XLA: on CPU its convolutions are several times slower than the oneDNN kernels.
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="binary_crossentropy", jit_compile=False)
    return model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, action="append")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--size", type=int, default=125)
    args = ap.parse_args()
    model = siamese(args.size)
    rng = np.random.default_rng(0)
    for batch in args.batch or [32, 128]:
        a = rng.random((batch, args.size, args.size, 1), dtype=np.float32)
        b = rng.random((batch, args.size, args.size, 1), dtype=np.float32)
        y = (rng.random((batch, 1)) < 0.5).astype(np.float32)
        model.train_on_batch([a, b], y)  # warm-up: graph tracing
        start = time.perf_counter()
        for _ in range(args.steps):
            model.train_on_batch([a, b], y)
        secs = (time.perf_counter() - start) / args.steps
        print(json.dumps({"tool": "keras", "tensorflow": tf.__version__, "keras": keras.__version__,
                          "params": model.count_params(), "batch": batch,
                          "seconds_per_step": round(secs, 4), "pairs_per_s": round(batch / secs, 1)}), flush=True)


if __name__ == "__main__":
    main()
