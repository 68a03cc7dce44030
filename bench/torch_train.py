"""PyTorch peer for bench/train-throughput.ts: trains the SAME ONNX graph (interpreted op by op with
torch.nn.functional, weights as parameters) and prints images/s as JSON. Dev-only: Debian python3-torch.
usage: /usr/bin/python3 bench/torch_train.py MODEL.onnx --batch 64 --threads 2 --steps 30 --warmup 5
"""
import argparse, json, time
import numpy as np
import onnx
from onnx import numpy_helper
import torch
import torch.nn.functional as F


def attrs(node):
    out = {}
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


class OnnxModule(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.graph = model.graph
        self.params = torch.nn.ParameterDict()
        self.consts = {}
        self.keys = {}
        for i, t in enumerate(self.graph.initializer):
            arr = numpy_helper.to_array(t).copy()
            if arr.dtype == np.float32 and arr.ndim > 0:
                key = f"p{i}"
                self.keys[t.name] = key
                self.params[key] = torch.nn.Parameter(torch.from_numpy(arr))
            else:
                self.consts[t.name] = torch.from_numpy(arr)

    def value(self, env, name):
        if name in env:
            return env[name]
        if name in self.keys:
            return self.params[self.keys[name]]
        return self.consts[name]

    def forward(self, x):
        env = {self.graph.input[0].name: x}
        for n in self.graph.node:
            a = attrs(n)
            ins = [self.value(env, i) if i else None for i in n.input]
            op = n.op_type
            if op == "Conv":
                p = a.get("pads", [0, 0, 0, 0])
                inp = ins[0]
                if p[0] != p[2] or p[1] != p[3]:
                    inp = F.pad(inp, (p[1], p[3], p[0], p[2]))
                    pad = 0
                else:
                    pad = (p[0], p[1])
                y = F.conv2d(inp, ins[1], ins[2] if len(ins) > 2 else None, stride=a.get("strides", [1, 1]), padding=pad,
                             dilation=a.get("dilations", [1, 1]), groups=a.get("group", 1))
            elif op == "Relu":
                y = F.relu(ins[0])
            elif op == "MaxPool":
                p = a.get("pads", [0, 0, 0, 0])
                y = F.max_pool2d(ins[0], a["kernel_shape"], a.get("strides", [1, 1]), (p[0], p[1]), ceil_mode=bool(a.get("ceil_mode", 0)))
            elif op == "AveragePool":
                p = a.get("pads", [0, 0, 0, 0])
                y = F.avg_pool2d(ins[0], a["kernel_shape"], a.get("strides", [1, 1]), (p[0], p[1]), ceil_mode=bool(a.get("ceil_mode", 0)),
                                 count_include_pad=bool(a.get("count_include_pad", 0)))
            elif op == "LRN":
                y = F.local_response_norm(ins[0], a["size"], a.get("alpha", 1e-4), a.get("beta", 0.75), a.get("bias", 1.0))
            elif op == "Concat":
                y = torch.cat(ins, dim=a["axis"])
            elif op == "GlobalAveragePool":
                y = F.adaptive_avg_pool2d(ins[0], 1)
            elif op == "Dropout":
                ratio = float(ins[1]) if len(ins) > 1 and ins[1] is not None else a.get("ratio", 0.5)
                y = F.dropout(ins[0], ratio, training=True)
            elif op == "Flatten":
                y = torch.flatten(ins[0], a.get("axis", 1))
            elif op == "Gemm":
                w = ins[1].t() if a.get("transB", 0) else ins[1]
                y = ins[0] @ w * a.get("alpha", 1.0) + (ins[2] * a.get("beta", 1.0) if len(ins) > 2 else 0)
            elif op in ("Sub", "Div", "Add", "Mul"):
                y = {"Sub": torch.sub, "Div": torch.div, "Add": torch.add, "Mul": torch.mul}[op](ins[0], ins[1])
            elif op == "Softmax":
                y = F.softmax(ins[0], dim=a.get("axis", -1))
            else:
                raise SystemExit(f"torch peer: op {op} not supported")
            env[n.output[0]] = y
        return env[self.graph.output[0].name]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = OnnxModule(onnx.load(args.model))
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    shape = [d.dim_value or args.batch for d in net.graph.input[0].type.tensor_type.shape.dim]
    shape[0] = args.batch
    x = torch.rand(*shape)
    y = torch.randint(0, 10, (args.batch,))
    def step():
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
    for _ in range(args.warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    dt = time.perf_counter() - t0
    print(json.dumps({"imagesPerSecond": args.batch * args.steps / dt, "msPerStep": 1000 * dt / args.steps, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
