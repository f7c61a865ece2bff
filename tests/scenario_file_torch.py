# Driver for tests/scenario_file.rs: builds quantized Conv2d / ConvReLU2d
# modules the eager way (QuantStub, prepare, calibrate, convert) under each
# engine, runs them, and writes with the snippet (src/scenario_file.py, passed
# as argv[1]) one scenario file per case into argv[2], plus the module's output
# codes, so the Rust side can check that the file reproduces them.
import contextlib, io, json, os, sys
import torch
import torch.ao.quantization as tq

exec(open(sys.argv[1]).read())
out_dir = sys.argv[2]

CASES = [
    # (engine, per_channel, relu, cin, cout, hw, kernel, stride, padding, dilation, groups, bias, input kind)
    ("fbgemm", True, False, 3, 8, (9, 11), 3, 1, 1, 1, 1, True, "float"),
    ("fbgemm", False, True, 4, 6, (8, 8), 3, 2, 0, 1, 2, True, "quantized"),
    ("fbgemm", True, True, 8, 8, (7, 10), 3, 1, 1, 1, 8, False, "float"),
    ("x86", True, False, 4, 4, (10, 9), (3, 2), (2, 1), (1, 0), 1, 1, True, "float"),
    ("x86", False, False, 6, 4, (8, 8), 3, 1, 2, 2, 2, True, "quantized"),
    ("x86", True, True, 3, 5, (12, 12), 5, 2, 2, 1, 1, True, "float"),
    ("qnnpack", False, False, 3, 4, (9, 9), 3, 1, 1, 1, 1, True, "float"),
    ("qnnpack", True, True, 4, 8, (8, 9), 3, 2, 1, 1, 2, True, "quantized"),
    ("qnnpack", False, True, 6, 6, (7, 7), 3, 1, 1, 1, 6, True, "float"),
]


class Net(torch.nn.Module):
    def __init__(self, conv, relu):
        super().__init__()
        self.quant = tq.QuantStub()
        self.conv = conv
        self.relu = torch.nn.ReLU() if relu else torch.nn.Identity()
        self.dequant = tq.DeQuantStub()

    def forward(self, x):
        return self.dequant(self.relu(self.conv(self.quant(x))))


manifest = []
for i, (engine, per_channel, relu, cin, cout, hw, k, s, p, d, g, bias, kind) in enumerate(CASES):
    torch.backends.quantized.engine = engine
    torch.manual_seed(100 + i)
    net = Net(torch.nn.Conv2d(cin, cout, k, s, p, d, g, bias=bias), relu).eval()
    if relu:
        net = tq.fuse_modules(net, [["conv", "relu"]])
    wobs = tq.default_per_channel_weight_observer if per_channel else tq.default_weight_observer
    act = tq.HistogramObserver.with_args(reduce_range=engine != "qnnpack")
    net.qconfig = tq.QConfig(activation=act, weight=wobs)
    tq.prepare(net, inplace=True)
    for _ in range(3):
        net(torch.randn(2, cin, *hw))
    tq.convert(net, inplace=True)
    x = torch.randn(2, cin, *hw) * 1.5 + 0.25
    xq = net.quant(x)
    y = net.conv(xq)
    name = f"case{i}.json"
    path = os.path.join(out_dir, name)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        if kind == "float":
            qconv_lens_scenario(net.conv, x, path, quant=net.quant)
        else:
            qconv_lens_scenario(net.conv, xq, path)
    manifest.append({
        "file": name, "engine": engine, "per_channel": per_channel, "relu": relu,
        "module": type(net.conv).__name__, "output": y[0].int_repr().flatten().tolist(),
        "printed": printed.getvalue(),
    })

# One case too large for a printed link (random codes barely compress).
torch.backends.quantized.engine = "qnnpack"
big = torch.ao.nn.quantized.Conv2d(16, 16, 3, padding=1)
xb = torch.quantize_per_tensor(torch.rand(1, 16, 40, 40), 1 / 255, 0, torch.quint8)
printed = io.StringIO()
with contextlib.redirect_stdout(printed):
    qconv_lens_scenario(big, xb, os.path.join(out_dir, "big.json"))
with open(os.path.join(out_dir, "big.txt"), "w") as f:
    f.write(printed.getvalue())
with open(os.path.join(out_dir, "manifest.json"), "w") as f:
    json.dump(manifest, f)
