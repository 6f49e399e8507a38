"""A twinflow network in TensorFlow-CPU Keras, timed with train_on_batch, for `twinflow bench train --keras`.

Usage: python keras_train.py --spec JSON [--batch 128] [--steps 5] [--warmup 3]
`--spec` is what twinflow passes: its network settings as the pipeline's RON names them
(model, dropout_rates, loss, distance, optimizer, input), as for torch_train.py. Prints one
JSON line per batch size: {"tool": "keras", "batch": B, "pairs_per_s": R, ...}.

The network is twinflow's (and the seed study's, for the default pipeline): per conv layer
conv (stride 1, valid) -> batch norm (eps 1e-3) -> 2x2 max pool -> ReLU -> dropout; flatten;
dense -> activation -> dropout; the head (dense(1) sigmoid on |e1 - e2| for BCE with L1, on
the scalar distance otherwise, or the contrastive loss on the distance); L2 penalties as
Keras' kernel_regularizer. The seed's model applies ReLU before pooling, which is the same
function (max pooling and ReLU commute). Initialisers do not change the timing and are
Keras' defaults.
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

ACTIVATIONS = {"Sigmoid": "sigmoid", "Relu": "relu", "Tanh": "tanh", "Linear": "linear"}


def twin(spec):
    model = spec["model"]
    rates = spec["dropout_rates"]
    h, w = spec["input"]
    l2 = model["l2"]
    inp = keras.Input((h, w, 1))
    x = inp
    for i, layer in enumerate(model["conv"]):
        x = layers.Conv2D(layer["filters"], layer["kernel"],
                          kernel_regularizer=regularizers.l2(l2["conv"]))(x)
        if model["batch_norm"]:
            x = layers.BatchNormalization(epsilon=1e-3)(x)
        if layer.get("pool", True):
            x = layers.MaxPooling2D()(x)
        x = layers.ReLU()(x)
        if rates[i]:
            x = layers.Dropout(rates[i])(x)
    x = layers.Flatten()(x)
    dense = model["dense"]
    x = layers.Dense(dense["units"], activation=ACTIVATIONS[dense["activation"]],
                     kernel_regularizer=regularizers.l2(l2["dense"]))(x)
    if rates[-1]:
        x = layers.Dropout(rates[-1])(x)
    return keras.Model(inp, x)


def distance(kind, a, b):
    if kind == "L1":
        return tf.abs(a - b)
    if kind == "Euclidean":
        return tf.sqrt(tf.reduce_sum(tf.square(a - b), 1, keepdims=True) + 1e-6)
    na = tf.sqrt(tf.reduce_sum(tf.square(a), 1, keepdims=True) + 1e-6)
    nb = tf.sqrt(tf.reduce_sum(tf.square(b), 1, keepdims=True) + 1e-6)
    return 1 - tf.reduce_sum(a * b, 1, keepdims=True) / (na * nb)


def contrastive(margin):
    def loss(y, d):
        return tf.reduce_mean(0.5 * (y * tf.square(d) + (1 - y) * tf.square(tf.maximum(margin - d, 0))))
    return loss


def optimizer(spec):
    (kind, settings), = spec["optimizer"].items()
    lr = settings["lr"]
    if kind == "Adam":
        return keras.optimizers.Adam(lr)
    if kind == "RmsProp":
        return keras.optimizers.RMSprop(lr)
    return keras.optimizers.SGD(lr, momentum=settings.get("momentum", 0.0))


def siamese(spec):
    t = twin(spec)
    h, w = spec["input"]
    a, b = keras.Input((h, w, 1)), keras.Input((h, w, 1))
    kind = spec["distance"]
    d = layers.Lambda(lambda z: distance(kind, z[0], z[1]))([t(a), t(b)])
    if spec["loss"] == "BinaryCrossEntropy":
        out, loss = layers.Dense(1, activation="sigmoid")(d), "binary_crossentropy"
    else:
        if kind == "L1":
            d = layers.Lambda(lambda z: tf.reduce_sum(z, 1, keepdims=True))(d)
        out, loss = d, contrastive(spec["loss"]["Contrastive"]["margin"])
    model = keras.Model([a, b], out)
    # No XLA: on CPU its convolutions are several times slower than the oneDNN kernels.
    model.compile(optimizer=optimizer(spec), loss=loss, jit_compile=False)
    return model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", required=True)
    ap.add_argument("--batch", type=int, action="append")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first (graph tracing)")
    args = ap.parse_args()
    spec = json.loads(args.spec)
    model = siamese(spec)
    h, w = spec["input"]
    rng = np.random.default_rng(0)
    for batch in args.batch or [32, 128]:
        a = rng.random((batch, h, w, 1), dtype=np.float32)
        b = rng.random((batch, h, w, 1), dtype=np.float32)
        y = (rng.random((batch, 1)) < 0.5).astype(np.float32)
        for _ in range(args.warmup):  # the first traces the graph
            model.train_on_batch([a, b], y)
        start = time.perf_counter()
        for _ in range(args.steps):
            model.train_on_batch([a, b], y)
        secs = (time.perf_counter() - start) / args.steps
        print(json.dumps({"tool": "keras", "tensorflow": tf.__version__, "keras": keras.__version__,
                          "params": model.count_params(), "batch": batch,
                          "seconds_per_step": round(secs, 4), "pairs_per_s": round(batch / secs, 1)}), flush=True)


if __name__ == "__main__":
    main()
