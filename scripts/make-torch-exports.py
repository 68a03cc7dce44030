#!/usr/bin/env python3
"""Export small PyTorch models to ONNX the way PyTorch users do, with torch's reference data, as the fixtures
in test/fixtures/torch/ that test/conformance/torch-exports.test.ts checks (run from the repo root with
Debian's /usr/bin/python3 and its python3-torch 1.13 / torchvision 0.14 / onnx; dev-only, never a runtime
dependency of rebirth):

    /usr/bin/python3 scripts/make-torch-exports.py             # writes test/fixtures/torch/
    /usr/bin/python3 scripts/make-torch-exports.py --full DIR  # also full-size torchvision models to DIR

Every export is torch.onnx.export(opset_version=13, input_names=['input'], output_names=['logits'],
default do_constant_folding=True) of a float32 nn.Module built from torch's layers, and where the real
network is in torchvision from torchvision's own blocks (BasicConv2d, Inception, Fire, BasicBlock), so
parameter names are those of the real architectures (inception3a.branch2.1.bn.weight,
features.3.expand3x3.weight, layer2.0.downsample.1.running_var). Dynamic-axes exports are traced on a
batch-1 input (and dynamic_hw on 48x160), as users do, while the reference data is at batch 2 (48x96), so
a graph that baked in the traced shape fails the test. Weights are seeded random, rounded to float32;
BatchNorm has random affine parameters and running statistics set from a calibration batch and then moved
at random (so eval-mode activations keep a sane scale). References are computed by torch in float64 from
the same float32 values, so they are exact to ~1e-12 and a test measures ORT's float32 error only.

What torch 1.13's exporter writes (the script prints op counts and warnings every run):
- BatchNormalization: the default export (training=TrainingMode.EVAL) runs _jit_pass_onnx_eval_peephole,
  which folds every BatchNorm that follows a Conv into the Conv (no BN nodes left; the folded weights
  become initializers named like onnx::Conv_205). do_constant_folding=False does NOT prevent it (the fold
  is the eval peephole, not constant folding). training=TrainingMode.PRESERVE on a module in eval() mode
  skips the peephole and keeps one-output BatchNormalization nodes (momentum 0.9 = 1 - torch's 0.1,
  epsilon as set) reading the torch-named initializers: that is what the eval fixtures use. torch then
  warns that constant folding is not recommended in "training-amenable mode" (the warning fires for
  PRESERVE even on an eval() module); it folds nothing here.
- training=TrainingMode.TRAINING: BatchNormalization gets 5 outputs (Y, running mean, running var and two
  batch_norm_dead_output-* saved statistics, none consumed). Opset 13 has no training_mode attribute: the
  extra outputs are what mark training, and ORT then normalizes with batch statistics. Dropout becomes
  Dropout(x, ratio=Constant 0.2, training_mode=Constant true) with a (dropped) mask output. The
  num_batches_tracked increments are removed ("Removing mutation from node aten::add_" warnings). The
  trace runs one train-mode forward, which moves the module's running statistics, and the exported
  initializers hold the moved values; the script exports a copy and writes the module's statistics back
  into googlenet_tv_train.onnx so that all googlenet_tv* exports share one weight set (googlenet_tv.json).
- Dropout in the eval exports (EVAL, or PRESERVE on an eval() module) is dropped: no node at all.
- LocalResponseNorm is not exported as ONNX LRN: F.local_response_norm is traced op by op. For 4-D input:
  Mul(x, x) -> Unsqueeze(axes [1]) -> Reshape to [N, 1, C, H, -1], the shape a Concat of
  Unsqueeze(Gather(Shape(x), i)) for i = 0, 1, 2 and Constants [1], [-1] -> Pad(mode constant, no
  constant_value (empty input name)) whose pads are computed in the graph from torch's pad list
  [0,0, 0,0, 2,2]: ConstantOfShape([4]) zeros appended, Reshape [-1, 2], Slice with step -1 (not
  constant-folded: torch folds only step 1), Transpose [1, 0], Reshape [-1], Cast to int64, giving
  [0,0,2,0,0, 0,0,2,0,0] -> a second Pad with constant all-zero pads (avg_pool3d's count_include_pad
  padding) -> AveragePool(kernel [5,1,1], strides 1, pads 0, ceil_mode 0) -> If(Equal(Shape[1], 1)) whose
  branches are Squeeze(axes [1]) and Identity (squeeze(1) of a dim torch could not prove is 1) -> Reshape
  back to x's shape (Concat of Gather(Shape(x), i), i = 0..3) -> Mul(alpha) -> Add(k) -> Pow(beta) ->
  Div(x, .). All shape constants are Constant nodes (31 of them), not initializers.
- x.view(x.size(0), -1) with a dynamic batch: Shape -> Gather(axis 0, scalar index 0) -> Unsqueeze ->
  Concat with Constant [-1] -> Reshape. torch.flatten(x, 1) is one Flatten(axis 1); nn.Linear is
  Gemm(transB=1) reading fc.weight unchanged.
- AdaptiveAvgPool2d(1) exports as GlobalAveragePool (so H and W can be dynamic); ceil_mode pooling keeps
  ceil_mode=1 (googlenet's 32 -> 16, 16 -> 8, 8 -> 4 and squeezenet's 14 -> 7 need it).

JSON reference (<name>.json; its "exports" lists the .onnx files it belongs to, with training mode,
dynamic axes and traced input dims):
- input (multiples of 1/16: exact in float32 and short), labels, eval_logits: torch eval-mode forward.
- train_logits, train_loss, grads, running_stats_after: one cross-entropy (mean) step with the module in
  train() mode, so BN uses batch statistics and updates its running statistics with momentum 0.1 and the
  UNBIASED batch variance, except that Dropout modules are put in eval() mode: the reference is
  deterministic and equals Dropout with p=0 ("dropout": "identity").
- running_var_after_biased: the running_var update ONNX BatchNormalization specifies (and ORT computes):
  from the biased batch variance. The means agree.
- eval_loss, eval_grads: the same loss with the whole module in eval() mode (BN statistics frozen).
- grads, eval_grads, running_stats_after, running_var_after_biased are keyed by ONNX initializer name;
  name_map maps each torch parameter / BN buffer name to the ONNX initializer it became (by name and
  equal values, else by unique equal values; every name matched itself in torch 1.13 with PRESERVE).
- float64 references are written with 8 significant digits (relative error 5e-9, far below float32's).
"""
import argparse
import collections
import copy
import json
import os
import sys
import warnings

import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.googlenet import BasicConv2d, Inception
from torchvision.models.resnet import BasicBlock, conv1x1
from torchvision.models.squeezenet import Fire

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "torch")
OPSET = 13
NUM_CLASSES = 10
BN_MOMENTUM = 0.1
BATCH_DYNAMIC = {"input": {0: "batch"}, "logits": {0: "batch"}}


# --- models ---------------------------------------------------------------------------------------------


class GoogLeNetTV(nn.Module):
    """torchvision GoogLeNet's layout (attribute names included) at reduced width, without aux heads."""

    def __init__(self):
        super().__init__()
        self.conv1 = BasicConv2d(3, 8, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(8, 8, kernel_size=1)
        self.conv3 = BasicConv2d(8, 16, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        # Inception(in, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5 (a 3x3 in torchvision), pool_proj)
        self.inception3a = Inception(16, 8, 8, 8, 4, 4, 4)
        self.inception3b = Inception(24, 8, 8, 12, 4, 8, 4)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = Inception(32, 8, 8, 12, 4, 8, 4)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=0.2)
        self.fc = nn.Linear(32, NUM_CLASSES)

    def forward(self, x):
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv3(self.conv2(x)))
        x = self.inception3b(self.inception3a(x))
        x = self.inception4a(self.maxpool3(x))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(self.dropout(x))


class LrnFlatten(nn.Module):
    """AlexNet/CaffeNet-style head: conv - ReLU - LRN - ceil max pool - conv - ReLU - view(N, -1) - FC."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 5, padding=2)
        self.norm1 = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)
        self.pool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = nn.Conv2d(8, 8, 3)
        self.fc = nn.Linear(8 * 6 * 8, NUM_CLASSES)

    def forward(self, x):
        x = self.pool1(self.norm1(F.relu(self.conv1(x))))
        x = F.relu(self.conv2(x))
        x = x.view(x.size(0), -1)
        return self.fc(x)


class SqueezeNetFire(nn.Module):
    """torchvision SqueezeNet 1.0's layout (features / classifier Sequentials) at reduced width and depth."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, kernel_size=7, stride=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            Fire(16, 4, 8, 8),
            Fire(16, 4, 8, 8),
            Fire(16, 6, 12, 12),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            Fire(24, 6, 12, 12),
        )
        self.classifier = nn.Sequential(
            nn.Dropout(p=0.5),
            nn.Conv2d(24, NUM_CLASSES, kernel_size=1),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d((1, 1)),
        )

    def forward(self, x):
        return torch.flatten(self.classifier(self.features(x)), 1)


class ResNetBlock(nn.Module):
    """torchvision ResNet's stem and two BasicBlocks (the second strided, with a conv1x1+BN downsample)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = nn.Sequential(BasicBlock(8, 8))
        self.layer2 = nn.Sequential(BasicBlock(8, 16, stride=2, downsample=nn.Sequential(conv1x1(8, 16, 2), nn.BatchNorm2d(16))))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(16, NUM_CLASSES)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer2(self.layer1(x))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


class DynamicHW(nn.Module):
    """Text-direction-classifier-sized conv net whose input height and width are both dynamic."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, NUM_CLASSES)

    def forward(self, x):
        x = self.pool(F.relu(self.bn1(self.conv1(x))))
        x = F.relu(self.conv2(x))
        return self.fc(torch.flatten(self.gap(x), 1))


# --- weights and data -----------------------------------------------------------------------------------


def f32(t):
    """Round to float32 and back, so torch (float64) and ORT (float32) start from identical values."""
    return t.float().double()


def randomize(net, gen, input_dims):
    """He-scaled conv/linear weights, small biases; BN with random affine parameters and running statistics
    near those of a calibration batch (so eval-mode activations keep a sane scale through the depth)
    but moved off them at random (mean by 0.3 std, var by a factor in [0.6, 1.4])."""
    net = net.double()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                gain = 2.0 if isinstance(m, nn.Conv2d) else 1.0
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen, dtype=torch.float64) * (gain / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=gen, dtype=torch.float64) * 0.1)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(0.5 + torch.rand(m.num_features, generator=gen, dtype=torch.float64))
                m.bias.copy_(torch.randn(m.num_features, generator=gen, dtype=torch.float64) * 0.2)
                m.reset_running_stats()
                m.momentum = None  # cumulative average: after one batch, exactly that batch's statistics
        calibration = quantized_input([8] + list(input_dims[1:]), gen)
        net.train()
        for m in net.modules():
            if isinstance(m, nn.Dropout):
                m.eval()
        net(calibration)
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.add_(0.3 * m.running_var.sqrt() * torch.randn(c, generator=gen, dtype=torch.float64))
                m.running_var.mul_(0.6 + 0.8 * torch.rand(c, generator=gen, dtype=torch.float64))
                m.momentum = BN_MOMENTUM
                m.num_batches_tracked.zero_()
        for t in list(net.parameters()) + list(net.buffers()):
            if t.is_floating_point():
                t.copy_(f32(t))
    return net.float().eval()


def quantized_input(dims, gen):
    """N(0,1) rounded to multiples of 1/16 in [-3, 3]: exact in float32, at most 7 characters in JSON."""
    return (torch.randn(dims, generator=gen, dtype=torch.float64) * 16).round().clamp(-48, 48) / 16


def values(t):
    return [float("%.8g" % v) for v in t.detach().reshape(-1).tolist()]


def exact_values(t):
    """float32-exact data (inputs): Python's shortest repr of each value, which round-trips."""
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def entry(t, exact=False):
    return {"dims": list(t.shape), "data": exact_values(t) if exact else values(t)}


# --- export and inspection ------------------------------------------------------------------------------


def export(net, trace_input, path, dynamic_axes, training):
    """torch.onnx.export as users call it; returns the export's metadata for the JSON and its warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.onnx.export(
            net, (trace_input.float(),), path, opset_version=OPSET, input_names=["input"], output_names=["logits"],
            dynamic_axes=dynamic_axes, training=training,
        )
    onnx.checker.check_model(onnx.load(path))
    meta = {
        "file": os.path.basename(path),
        "training": training.name,
        "dynamic_axes": {k: {str(a): n for a, n in v.items()} for k, v in dynamic_axes.items()} if dynamic_axes else None,
        "trace_input_dims": list(trace_input.shape),
    }
    # One line per kind of warning: the per-BN "Removing mutation ... on block input: '<name>'" collapse.
    kinds = collections.Counter(str(w.message).split("\n")[0].split(" on block input")[0][:160] for w in caught)
    return meta, [f"{k} (x{n})" if n > 1 else k for k, n in sorted(kinds.items())]


def op_counts(model):
    return dict(sorted(collections.Counter(n.op_type for n in model.graph.node).items()))


def describe(path, caught):
    model = onnx.load(path)
    g = model.graph
    dims = lambda vi: [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]
    print(f"  {os.path.basename(path)}: {os.path.getsize(path)} bytes, inputs {[(i.name, dims(i)) for i in g.input]}, "
          f"outputs {[(o.name, dims(o)) for o in g.output]}, {len(g.initializer)} initializers")
    print(f"    ops {op_counts(model)}")
    for n in g.node:
        if n.op_type == "BatchNormalization":
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
            print(f"    first BatchNormalization: {len(n.output)} outputs {list(n.output)}, attrs {attrs}")
            break
    for n in g.node:
        if n.op_type == "Dropout":
            print(f"    Dropout inputs {list(n.input)} outputs {list(n.output)}")
    for w in caught:
        print(f"    warning: {w}")
    return model


def name_map(net, model):
    """torch parameter/BN-buffer name -> ONNX initializer name: same name and values, else unique equal values."""
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    result = {}
    for name, t in list(net.named_parameters()) + [(k, v) for k, v in net.named_buffers() if "running" in k]:
        ref = t.detach().float().numpy()
        if name in inits and inits[name].shape == ref.shape and np.array_equal(inits[name], ref):
            result[name] = name
            continue
        same = [k for k, v in inits.items() if v.shape == ref.shape and np.array_equal(v, ref)]
        result[name] = same[0] if len(same) == 1 else None
    return result


def checked_name_map(label, net, model):
    names = name_map(net, model)
    missing = [k for k, v in names.items() if v is None]
    if missing:
        sys.exit(f"{label}: torch tensors with no equal ONNX initializer: {missing}")
    return names


def restore_running_stats(path, net, names):
    """Write the module's BN running statistics back over the ones a TRAINING-mode trace moved."""
    model = onnx.load(path)
    by_name = {t.name: t for t in model.graph.initializer}
    for torch_name, buf in net.named_buffers():
        if "running" in torch_name:
            by_name[names[torch_name]].CopyFrom(onnx.numpy_helper.from_array(buf.detach().float().numpy(), names[torch_name]))
    onnx.save(model, path)


# --- reference ------------------------------------------------------------------------------------------


def reference(net32, x, labels):
    """eval logits; one train()-mode step (Dropout kept in eval); the eval-mode loss and gradients."""
    ev = copy.deepcopy(net32).double().eval()
    with torch.no_grad():
        eval_logits = ev(x)
    loss = F.cross_entropy(ev(x), labels)
    loss.backward()
    eval_loss, eval_grads = float(loss), {k: p.grad for k, p in ev.named_parameters()}

    tr = copy.deepcopy(net32).double().train()
    biased = {}
    for module_name, m in tr.named_modules():
        if isinstance(m, nn.Dropout):
            m.eval()
        if isinstance(m, nn.BatchNorm2d):
            # ONNX BatchNormalization (and ORT) update running_var with the biased batch variance.
            def hook(m, inputs, key=module_name + ".running_var"):
                var = inputs[0].detach().var(dim=(0, 2, 3), unbiased=False)
                biased[key] = (1 - m.momentum) * m.running_var + m.momentum * var
            m.register_forward_pre_hook(hook)
    train_logits = tr(x)
    loss = F.cross_entropy(train_logits, labels)
    loss.backward()
    return {
        "eval_logits": eval_logits,
        "eval_loss": eval_loss,
        "eval_grads": eval_grads,
        "train_logits": train_logits,
        "train_loss": float(loss),
        "grads": {k: p.grad for k, p in tr.named_parameters()},
        "running_stats_after": {k: v for k, v in tr.named_buffers() if "running" in k},
        "running_var_after_biased": biased,
    }


def fixture_json(name, exports, net32, x, labels, names):
    ref = reference(net32, x, labels)
    keyed = lambda d: {names[k]: values(v) for k, v in d.items()}
    return {
        "name": name,
        "exports": exports,
        "torch_version": torch.__version__,
        "opset": OPSET,
        "input": entry(x, exact=True),
        "labels": labels.tolist(),
        "num_classes": NUM_CLASSES,
        "loss": "cross_entropy_mean",
        "dropout": "identity",
        "bn_momentum": BN_MOMENTUM,
        "bn_running_var": "unbiased",
        "name_map": names,
        "eval_logits": entry(ref["eval_logits"]),
        "eval_loss": ref["eval_loss"],
        "train_logits": entry(ref["train_logits"]),
        "train_loss": ref["train_loss"],
        "grads": keyed(ref["grads"]),
        "eval_grads": keyed(ref["eval_grads"]),
        "running_stats_after": keyed(ref["running_stats_after"]),
        "running_var_after_biased": keyed(ref["running_var_after_biased"]),
    }


def write_json(path, data):
    with open(path, "w") as f:
        json.dump(data, f, separators=(",", ":"))
    print(f"  {os.path.basename(path)}: {os.path.getsize(path)} bytes, train_loss {data['train_loss']:.6f}, eval_loss {data['eval_loss']:.6f}")


def build(make, gen, input_dims):
    net = randomize(make(), gen, input_dims)
    x = quantized_input(input_dims, gen)
    labels = torch.randint(0, NUM_CLASSES, (input_dims[0],), generator=gen)
    return net, x, labels


PRESERVE = torch.onnx.TrainingMode.PRESERVE


def simple_fixture(name, make, gen, input_dims, dynamic_axes, trace_dims):
    """One eval export (BN kept, traced on another input than the reference's) and its JSON."""
    net, x, labels = build(make, gen, input_dims)
    path = os.path.join(OUT, name + ".onnx")
    meta, caught = export(net, quantized_input(trace_dims, gen), path, dynamic_axes, PRESERVE)
    model = describe(path, caught)
    names = checked_name_map(name, net, model)
    write_json(os.path.join(OUT, name + ".json"), fixture_json(name, [meta], net, x, labels, names))
    return model


def googlenet_fixtures(gen):
    net, x, labels = build(GoogLeNetTV, gen, [2, 3, 64, 64])
    trace = quantized_input([1, 3, 64, 64], gen)

    # What the default export does with BN, for the record (not written to the fixtures).
    probe = os.path.join(OUT, ".probe.onnx")
    for label, kwargs in (("training=EVAL (default)", {}), ("training=EVAL, do_constant_folding=False", {"do_constant_folding": False})):
        torch.onnx.export(net, (trace.float(),), probe, opset_version=OPSET, input_names=["input"], output_names=["logits"], **kwargs)
        probe_model = onnx.load(probe)
        counts = op_counts(probe_model)
        print(f"  probe {label}: BatchNormalization x{counts.get('BatchNormalization', 0)}, Conv x{counts.get('Conv', 0)}, "
              f"initializers {[t.name for t in probe_model.graph.initializer][:3]}...")
    os.remove(probe)

    path = os.path.join(OUT, "googlenet_tv.onnx")
    meta, caught = export(net, trace, path, BATCH_DYNAMIC, PRESERVE)
    names = checked_name_map("googlenet_tv", net, describe(path, caught))

    path_b1 = os.path.join(OUT, "googlenet_tv_b1.onnx")
    meta_b1, caught = export(net, x[:1], path_b1, None, PRESERVE)
    if checked_name_map("googlenet_tv_b1", net, describe(path_b1, caught)) != names:
        sys.exit("googlenet_tv_b1: initializer names differ from googlenet_tv")

    # A TRAINING trace runs the module in train mode and moves its running statistics: export a copy.
    path_train = os.path.join(OUT, "googlenet_tv_train.onnx")
    traced = copy.deepcopy(net)
    meta_train, caught = export(traced, trace, path_train, BATCH_DYNAMIC, torch.onnx.TrainingMode.TRAINING)
    moved = [k for k, v in name_map(net, onnx.load(path_train)).items() if v is None]
    print(f"    the TRAINING trace moved {len(moved)} running-statistics initializers (e.g. {moved[:2]}); writing the module's back")
    restore_running_stats(path_train, net, names)
    if checked_name_map("googlenet_tv_train", net, describe(path_train, caught)) != names:
        sys.exit("googlenet_tv_train: initializer names differ from googlenet_tv")

    write_json(os.path.join(OUT, "googlenet_tv.json"), fixture_json("googlenet_tv", [meta, meta_train], net, x, labels, names))
    write_json(os.path.join(OUT, "googlenet_tv_b1.json"), fixture_json("googlenet_tv_b1", [meta_b1], net, x[:1], labels[:1], names))


def full_exports(directory):
    """Full-size torchvision models (random init, no download), eval mode, BN kept, dynamic batch."""
    import torchvision

    os.makedirs(directory, exist_ok=True)
    gen = torch.Generator().manual_seed(7)
    torch.manual_seed(0)  # torchvision's init_weights draws from the global generator
    x = quantized_input([2, 3, 224, 224], gen)
    for name, net in (
        ("googlenet", torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=True)),
        ("squeezenet1_0", torchvision.models.squeezenet1_0(weights=None)),
    ):
        net = net.eval()
        path = os.path.join(directory, name + ".onnx")
        meta, caught = export(net, quantized_input([1, 3, 224, 224], gen), path, BATCH_DYNAMIC, PRESERVE)
        describe(path, caught)
        with torch.no_grad():
            logits = copy.deepcopy(net).double()(x)
        with open(os.path.join(directory, name + ".json"), "w") as f:
            json.dump({"name": name, "exports": [meta], "input": entry(x, exact=True), "eval_logits": entry(logits)}, f, separators=(",", ":"))
        print(f"  {name}.json: input [2,3,224,224] and eval_logits")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", metavar="DIR", help="also export full-size torchvision googlenet and squeezenet1_0 to DIR")
    args = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    gen = torch.Generator().manual_seed(20240612)
    print("googlenet_tv")
    googlenet_fixtures(gen)
    print("lrn_flatten")
    lrn = simple_fixture("lrn_flatten", LrnFlatten, gen, [2, 3, 16, 20], BATCH_DYNAMIC, [1, 3, 16, 20])
    print("    nodes: " + " ".join(n.op_type for n in lrn.graph.node))
    print("squeezenet_fire")
    simple_fixture("squeezenet_fire", SqueezeNetFire, gen, [2, 3, 64, 64], BATCH_DYNAMIC, [1, 3, 64, 64])
    print("resnet_block")
    simple_fixture("resnet_block", ResNetBlock, gen, [2, 3, 32, 32], BATCH_DYNAMIC, [1, 3, 32, 32])
    print("dynamic_hw")
    simple_fixture("dynamic_hw", DynamicHW, gen, [2, 3, 48, 96],
                   {"input": {0: "batch", 2: "height", 3: "width"}, "logits": {0: "batch"}}, [1, 3, 48, 160])
    if args.full:
        print("full-size torchvision models ->", args.full)
        full_exports(args.full)


if __name__ == "__main__":
    main()
