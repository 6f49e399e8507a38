"""A twinflow network in PyTorch eager, timed per training step, for `twinflow bench train --torch`.

Usage: python torch_train.py --spec JSON [--batch 64] [--steps 5] [--warmup 3]
`--spec` is what twinflow passes: its network settings as the pipeline's RON names them
(model, dropout_rates, loss, distance, optimizer, input). Prints one JSON line per batch
size: {"tool": "torch", "device": ..., "batch": B, "pairs_per_s": R, ...}.

The network is twinflow's: per conv layer conv (stride 1, valid) -> batch norm (eps 1e-3,
Keras' momentum) -> 2x2 max pool -> ReLU -> dropout; flatten; dense -> activation -> dropout;
the head (dense(1) on |e1 - e2| for BCE with L1, `a d + c` on a scalar distance, or the
contrastive loss on the distance); L2 penalties as the gradient term 2 * l2 * w (Keras'
kernel_regularizer), here as coupled weight decay. Runs on CUDA (cuDNN, benchmark mode) when
present, else on the CPU. Both twins run as one batch, as in twinflow.
"""
import argparse
import json
import time

import torch
from torch import nn


ACTIVATIONS = {"Sigmoid": nn.Sigmoid, "Relu": nn.ReLU, "Tanh": nn.Tanh, "Linear": nn.Identity}


def twin(spec):
    model = spec["model"]
    rates = spec["dropout_rates"]
    h, w = spec["input"]
    layers, c = [], 1
    for i, layer in enumerate(model["conv"]):
        f, k = layer["filters"], layer["kernel"]
        layers.append(nn.Conv2d(c, f, k))
        if model["batch_norm"]:
            layers.append(nn.BatchNorm2d(f, eps=1e-3, momentum=0.01))
        h, w = h - k + 1, w - k + 1
        if layer.get("pool", True):
            layers.append(nn.MaxPool2d(2))
            h, w = h // 2, w // 2
        layers.append(nn.ReLU())
        if rates[i]:
            layers.append(nn.Dropout(rates[i]))
        c = f
    units = model["dense"]["units"]
    layers += [nn.Flatten(), nn.Linear(c * h * w, units), ACTIVATIONS[model["dense"]["activation"]]()]
    if rates[-1]:
        layers.append(nn.Dropout(rates[-1]))
    return nn.Sequential(*layers)


class Siamese(nn.Module):
    def __init__(self, spec):
        super().__init__()
        self.twin = twin(spec)
        self.loss = spec["loss"]
        self.distance = spec["distance"]
        units = spec["model"]["dense"]["units"]
        self.bce = self.loss == "BinaryCrossEntropy"
        if self.bce:
            self.head = nn.Linear(units if self.distance == "L1" else 1, 1)

    def forward(self, both, labels):
        e = self.twin(both)
        left, right = e.chunk(2)
        if self.distance == "L1":
            diff = (left - right).abs()
            d = diff.sum(1)
        elif self.distance == "Euclidean":
            d = ((left - right).pow(2).sum(1) + 1e-6).sqrt()
        else:
            d = 1 - (left * right).sum(1) / ((left.pow(2).sum(1) + 1e-6).sqrt() * (right.pow(2).sum(1) + 1e-6).sqrt())
        if self.bce:
            features = diff if self.distance == "L1" else d.unsqueeze(1)
            logits = self.head(features).squeeze(1)
            return nn.functional.binary_cross_entropy_with_logits(logits, labels)
        margin = self.loss["Contrastive"]["margin"]
        gap = (margin - d).clamp(min=0)
        return 0.5 * (labels * d.pow(2) + (1 - labels) * gap.pow(2)).mean()


def optimizer(spec, net):
    l2 = spec["model"]["l2"]
    groups = []
    for name, p in net.named_parameters():
        decay = 0.0
        if name.endswith("weight") and p.dim() == 4:
            decay = 2 * l2["conv"]
        elif name.startswith("twin") and name.endswith("weight") and p.dim() == 2:
            decay = 2 * l2["dense"]
        groups.append({"params": [p], "weight_decay": decay})
    (kind, settings), = spec["optimizer"].items()
    lr = settings["lr"]
    if kind == "Adam":
        return torch.optim.Adam(groups, lr=lr)
    if kind == "RmsProp":
        return torch.optim.RMSprop(groups, lr=lr, alpha=0.9, eps=1e-7)
    return torch.optim.SGD(groups, lr=lr, momentum=settings.get("momentum", 0.0))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", required=True)
    ap.add_argument("--batch", type=int, action="append")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first (cuDNN picks algorithms)")
    args = ap.parse_args()
    spec = json.loads(args.spec)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cudnn.benchmark = True
    # Plain f32 arithmetic, as twinflow's kernels: no TF32 tensor cores.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    net = Siamese(spec).to(device).train()
    opt = optimizer(spec, net)
    h, w = spec["input"]
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    name = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    gen = torch.Generator().manual_seed(0)
    for batch in args.batch or [32, 128]:
        both = torch.rand((2 * batch, 1, h, w), generator=gen).to(device)
        labels = (torch.arange(batch) % 2).float().to(device)

        def step():
            opt.zero_grad(set_to_none=True)
            loss = net(both, labels)
            loss.backward()
            opt.step()
            return loss

        for _ in range(args.warmup):  # cuDNN picks its algorithms
            step()
        sync()
        start = time.perf_counter()
        for _ in range(args.steps):
            step()
        sync()
        secs = (time.perf_counter() - start) / args.steps
        params = sum(p.numel() for p in net.parameters())
        print(json.dumps({"tool": "torch", "torch": torch.__version__, "device": name, "params": params,
                          "batch": batch, "seconds_per_step": round(secs, 5),
                          "pairs_per_s": round(batch / secs, 1)}), flush=True)


if __name__ == "__main__":
    main()
