"""PyTorch peer for bench/train-throughput.ts: googlenet-mini built the way a PyTorch user builds it, from
torch's own layers (nn.Conv2d, F.local_response_norm, F.max_pool2d with ceil_mode, torch.cat, dropout,
nn.Linear), trained with torch.optim.SGD (momentum 0.9, Nesterov, weight decay 5e-4) on cross-entropy,
the same batch, threads, optimizer and architecture as rebirth's run (src/zoo/googlenet.ts:
buildGoogLeNetMini; 264,250 parameters, checked by the caller). Prints one JSON line: images/s, ms per
step (each timed step), torch version, threads, the OPENBLAS_* variables it ran with, the BLAS and
the malloc it loaded, and its minor page faults per timed step.
Dev-only: Debian python3-torch (/usr/bin/python3).
usage: /usr/bin/python3 bench/torch_train.py --batch 64 --threads 2 --steps 30 --warmup 5 [--profile N]
"""
import argparse, json, os, resource, time
import torch
import torch.nn as nn
import torch.nn.functional as F

# Fashion-MNIST statistics of pixel/255, as in the zoo model's data/sub_mean, data/div_std nodes.
MEAN, STD = 0.2860, 0.3530
# Caffe's LRN as the zoo emits it: size 5, alpha 1e-4, beta 0.75, bias 1. torch, like ONNX, divides
# alpha by size, so the same four numbers give the same function.
LRN = dict(size=5, alpha=1e-4, beta=0.75, k=1.0)
# googlenet-mini's Inception modules: in, 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj.
INCEPTIONS = [(96, 32, 48, 64, 8, 16, 16), (128, 64, 64, 96, 16, 48, 32), (240, 96, 48, 104, 8, 24, 32)]


class Inception(nn.Module):
    def __init__(self, cin, c1, r3, c3, r5, c5, cp):
        super().__init__()
        self.b1 = nn.Conv2d(cin, c1, 1)
        self.r3 = nn.Conv2d(cin, r3, 1)
        self.b3 = nn.Conv2d(r3, c3, 3, padding=1)
        self.r5 = nn.Conv2d(cin, r5, 1)
        self.b5 = nn.Conv2d(r5, c5, 5, padding=2)
        self.bp = nn.Conv2d(cin, cp, 1)

    def forward(self, x):
        return torch.cat([
            F.relu(self.b1(x)),
            F.relu(self.b3(F.relu(self.r3(x)))),
            F.relu(self.b5(F.relu(self.r5(x)))),
            F.relu(self.bp(F.max_pool2d(x, 3, 1, 1))),
        ], 1)


class GoogLeNetMini(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2_reduce = nn.Conv2d(32, 32, 1)
        self.conv2 = nn.Conv2d(32, 96, 3, padding=1)
        self.inception = nn.ModuleList([Inception(*s) for s in INCEPTIONS])
        self.classifier = nn.Linear(256, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = (x - MEAN) / STD
        x = F.max_pool2d(F.relu(self.conv1(x)), 3, 2, ceil_mode=True)
        x = F.local_response_norm(x, **LRN)
        x = F.relu(self.conv2(F.relu(self.conv2_reduce(x))))
        x = F.max_pool2d(F.local_response_norm(x, **LRN), 3, 2, ceil_mode=True)
        x = self.inception[1](self.inception[0](x))
        x = F.max_pool2d(x, 3, 2, ceil_mode=True)
        x = self.inception[2](x)
        x = F.dropout(F.adaptive_avg_pool2d(x, 1), 0.4, training=self.training)
        return self.classifier(torch.flatten(x, 1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="instead of timing: N steps under torch.profiler, its table of ops by self CPU time")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = GoogLeNetMini()
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    # The same inputs as rebirth's run: pixel (i mod 255) / 255, labels i mod 10.
    x = (torch.arange(args.batch * 28 * 28, dtype=torch.float32) % 255 / 255).reshape(args.batch, 1, 28, 28)
    y = torch.arange(args.batch) % 10

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()

    for _ in range(args.warmup):
        step()
    if args.profile > 0:
        from torch.profiler import profile, ProfilerActivity
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(args.profile):
                step()
        print(f"{args.profile} steps, batch {args.batch}, {torch.get_num_threads()} threads, malloc: {allocator()}")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))
        return
    steps_ms = []
    faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        steps_ms.append(1000 * (time.perf_counter() - t0))
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0) / args.steps
    total = sum(steps_ms) / 1000
    print(json.dumps({
        "imagesPerSecond": args.batch * args.steps / total, "msPerStep": 1000 * total / args.steps, "stepsMs": steps_ms,
        "params": sum(p.numel() for p in net.parameters()), "torch": torch.__version__, "threads": torch.get_num_threads(),
        "openblas": {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_")},
        "blas": blas_libraries(), "allocator": allocator(), "minorFaultsPerStep": faults,
    }))


def blas_libraries():
    # The BLAS torch loaded (Debian's libblas.so.3 alternative: OpenBLAS, or the slow reference
    # implementation when no optimized BLAS is installed), so a handicapped peer is visible.
    try:
        with open("/proc/self/maps") as f:
            return sorted({line.split()[-1] for line in f if "blas" in line.split()[-1]})
    except OSError:
        return []


def allocator():
    # The malloc this process runs on: tcmalloc or jemalloc when preloaded (LD_PRELOAD, as torch's own
    # launcher torch.backends.xeon.run_cpu does), else glibc's.
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "/" in line}
    except OSError:
        return "unknown"
    for name in ("tcmalloc", "jemalloc"):
        if any(name in l for l in libs):
            return name
    return "glibc"


if __name__ == "__main__":
    main()
