"""PyTorch's own time on the shapes of scripts/bench-browser (issue 10's
browser budgets): quantized Conv2d, fbgemm engine, one thread, per-tensor
quint8 input, qint8 weights, float bias, 3x3 padding 1. Prints one JSON object
{torch, cases: {name: median_ms}} for the browser benchmark to divide by.
usage: python3 benches/torch_browser.py [runs]"""
import json, sys, time, statistics
import torch
import torch.ao.nn.quantized as nnq

runs = int(sys.argv[1]) if len(sys.argv) > 1 else 50
torch.set_num_threads(1)
torch.backends.quantized.engine = "fbgemm"
torch.manual_seed(0)

# name: (input channels, output channels, side); the browser benchmark uses the same names.
CASES = {"64x64_8to8": (8, 8, 64), "512x512_16to16": (16, 16, 512), "resnet_56x56_64to64": (64, 64, 56)}


def median_ms(cin, cout, side):
    x = torch._make_per_tensor_quantized_tensor(
        torch.randint(0, 256, (1, cin, side, side), dtype=torch.uint8), 0.0078, 0)
    w = torch._make_per_tensor_quantized_tensor(
        torch.randint(-127, 128, (cout, cin, 3, 3), dtype=torch.int8), 0.0037, 0)
    m = nnq.Conv2d(cin, cout, 3, padding=1)
    m.set_weight_bias(w, torch.full((cout,), 0.01))
    m.scale, m.zero_point = 0.05, 0
    for _ in range(5):
        m(x)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        m(x)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


print(json.dumps({"torch": torch.__version__,
                  "cases": {name: median_ms(*shape) for name, shape in CASES.items()}}))
