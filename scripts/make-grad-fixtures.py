#!/usr/bin/env python3
"""Write the PyTorch reference gradients that test/autodiff/torch-fixtures.test.ts compares against
(run from the repo root with Debian's /usr/bin/python3 and its python3-torch; dev-only, never a runtime
dependency of rebirth).

Each fixture is one small network with fixed seeded float32 weights and inputs, one training step's loss,
every parameter's gradient and the BatchNorm running statistics after the step, computed by torch in
float64 from the float32 values (so the reference is exact to ~1e-12 and the test measures rebirth's
float32 error only). The test rebuilds the same network in rebirth's IR from the weights stored here.

Conventions checked along the way (where torch and ONNX differ, the fixture follows what the test sets):
- LRN: torch's LocalResponseNorm(size) divides alpha by size and, for odd sizes, uses the same symmetric
  channel window as ONNX LRN (even sizes differ: torch pads size//2 before, ONNX (size-1)//2).
- BatchNorm momentum: torch 0.1 == ONNX 0.9; torch updates running_var with the unbiased batch variance
  (the test builds its training graph with runningVariance 'unbiased').
- ceil_mode pooling: the shapes used here do not hit the case where a last window starts in the end pad.
"""
import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "grad")


def f32(t):
    """Round to float32 and back, so torch (float64) and ORT (float32) start from identical values."""
    return t.float().double()


def values(t):
    return [float("%.9g" % v) for v in t.detach().reshape(-1).tolist()]


def tensor_entry(t):
    return {"dims": list(t.shape), "data": values(t)}


class InceptionMini(nn.Module):
    """conv5x5/2 - BN - ReLU - maxpool3/2 ceil - LRN - inception (1x1 | 3x3 | pool-proj) - concat - GAP - FC."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 5, stride=2, padding=2)
        self.bn1 = nn.BatchNorm2d(8, eps=1e-5, momentum=0.1)
        self.lrn = nn.LocalResponseNorm(5, alpha=0.05, beta=0.75, k=1.0)
        self.branch1 = nn.Conv2d(8, 4, 1)
        self.branch3 = nn.Conv2d(8, 6, 3, padding=1)
        self.proj = nn.Conv2d(8, 2, 1)
        self.fc = nn.Linear(12, 5)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.max_pool2d(x, 3, stride=2, ceil_mode=True)
        x = self.lrn(x)
        a = F.relu(self.branch1(x))
        b = F.relu(self.branch3(x))
        c = F.relu(self.proj(F.max_pool2d(x, 3, stride=1, padding=1)))
        x = torch.cat([a, b, c], dim=1)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)


class MobileMini(nn.Module):
    """depthwise 3x3/2 - pointwise - HardSwish - avgpool ceil (no pad count) - ConvTranspose - Tanh - avgpool (pad count) - FC."""

    def __init__(self):
        super().__init__()
        self.dw = nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=4)
        self.pw = nn.Conv2d(4, 6, 1)
        self.up = nn.ConvTranspose2d(6, 4, 2, stride=2, groups=2)
        self.fc = nn.Linear(64, 7)

    def forward(self, x):
        x = F.hardswish(self.pw(self.dw(x)))
        x = F.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
        x = torch.tanh(self.up(x))
        x = F.avg_pool2d(x, 2, stride=2, padding=1, count_include_pad=True)
        return self.fc(x.flatten(1))


def init(module, gen):
    for p in module.parameters():
        with torch.no_grad():
            p.copy_(f32(torch.randn(p.shape, generator=gen, dtype=torch.float64) * 0.3))


def fixture_inception(gen):
    net = InceptionMini().double()
    init(net, gen)
    with torch.no_grad():
        net.bn1.running_mean.copy_(f32(torch.randn(8, generator=gen, dtype=torch.float64) * 0.1))
        net.bn1.running_var.copy_(f32(torch.rand(8, generator=gen, dtype=torch.float64) + 0.5))
    start = {k: v.clone() for k, v in net.named_buffers() if "running" in k}
    x = f32(torch.randn(4, 3, 12, 12, generator=gen, dtype=torch.float64))
    labels = torch.tensor([0, 3, 1, 4])
    net.train()
    logits = net(x)
    loss = F.cross_entropy(logits, labels, label_smoothing=0.1)
    loss.backward()
    return {
        "name": "inception_mini",
        "input": tensor_entry(x),
        "labels": labels.tolist(),
        "params": {k: tensor_entry(p) for k, p in net.named_parameters()},
        "buffers": {k: tensor_entry(v) for k, v in start.items()},
        "loss": float(loss),
        "logits": values(logits),
        "grads": {k: values(p.grad) for k, p in net.named_parameters()},
        "running": {k: values(v) for k, v in net.named_buffers() if "running" in k},
    }


def fixture_mobile(gen):
    net = MobileMini().double()
    init(net, gen)
    x = f32(torch.randn(3, 4, 9, 9, generator=gen, dtype=torch.float64))
    labels = torch.tensor([6, 0, 2])
    teacher = f32(torch.randn(3, 7, generator=gen, dtype=torch.float64) * 2)
    target = f32(torch.randn(3, 7, generator=gen, dtype=torch.float64))
    temperature = 4.0
    logits = net(x)
    kl = F.kl_div(F.log_softmax(logits / temperature, dim=1), F.softmax(teacher / temperature, dim=1), reduction="batchmean") * temperature ** 2
    ce = F.cross_entropy(logits, labels)
    mse = F.mse_loss(logits, target)
    loss = 0.7 * kl + 0.3 * ce + 0.1 * mse
    loss.backward()
    return {
        "name": "mobile_mini",
        "input": tensor_entry(x),
        "labels": labels.tolist(),
        "teacher": tensor_entry(teacher),
        "target": tensor_entry(target),
        "temperature": temperature,
        "params": {k: tensor_entry(p) for k, p in net.named_parameters()},
        "buffers": {},
        "loss": float(loss),
        "logits": values(logits),
        "grads": {k: values(p.grad) for k, p in net.named_parameters()},
        "running": {},
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    gen = torch.Generator().manual_seed(20240611)
    for fixture in (fixture_inception(gen), fixture_mobile(gen)):
        path = os.path.join(OUT, fixture["name"] + ".json")
        with open(path, "w") as f:
            json.dump(fixture, f, separators=(",", ":"))
        print(path, os.path.getsize(path), "bytes, loss", fixture["loss"])


if __name__ == "__main__":
    main()
