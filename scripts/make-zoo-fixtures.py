"""Layer signatures of torchvision 0.14's resnet18, resnet34 and mobilenet_v2, for test/zoo/torchvision.test.ts.

For every Conv2d: [out, in/groups, kh, kw, stride, padding, groups, has_bias]; for every Linear:
[out, in, has_bias]; plus the parameter count. The test compares these, as sorted lists, with the
convs and Gemms of rebirth's zoo models (module order and node order differ only in where a block's
shortcut is listed). Run with Debian's python3-torchvision:

    /usr/bin/python3 scripts/make-zoo-fixtures.py
"""
import json
import torch
import torchvision

out = {'torchvision': torchvision.__version__, 'models': {}}
for name in ['resnet18', 'resnet34', 'mobilenet_v2']:
    m = getattr(torchvision.models, name)()
    convs, linears = [], []
    for mod in m.modules():
        if isinstance(mod, torch.nn.Conv2d):
            w = mod.weight.shape
            convs.append([w[0], w[1], w[2], w[3], mod.stride[0], mod.padding[0], mod.groups, mod.bias is not None])
        elif isinstance(mod, torch.nn.Linear):
            linears.append([mod.out_features, mod.in_features, mod.bias is not None])
    out['models'][name] = {
        'parameters': sum(p.numel() for p in m.parameters()),
        'batchnorms': sum(1 for mod in m.modules() if isinstance(mod, torch.nn.BatchNorm2d)),
        'convs': sorted(convs),
        'linears': linears,
    }
with open('test/fixtures/zoo/torchvision-layers.json', 'w') as f:
    json.dump(out, f, separators=(',', ':'))
    f.write('\n')
