"""PyTorch's own time for the convs of benches/paths.rs, one thread: a
quantized Conv2d forward (`torch.ops.quantized.conv2d`, what `nnq.Conv2d` calls)
on an NCHW quint8 input, per-channel qint8 weights with zero points 0, float
bias, output scale 0.05 and zero point 128, as the Rust benchmark.
Prints one line per case: `id median_seconds runs engine`.

usage: python3 benches/torch_paths.py [--runs N] [--only ID,ID,...]

The AVX2 cases (ids ending in `_avx2`) only mean something with
`FBGEMM_ENABLE_INSTRUCTIONS=AVX2` in the environment before Python starts
(fbgemm reads it once); without it they are skipped, and with it only they run.
"""
import argparse, os, statistics, sys, time, warnings
import torch
import torch.ao.nn.quantized as nnq

# Quantized tensor constructors are deprecated (still there in 2.15); keep the output clean.
warnings.filterwarnings("ignore", category=UserWarning)

# id -> (engine, in, out, height = width, kernel, groups); ids as in paths.rs.
ISSUE = (8, 8, 256, 3, 1)  # fbgemm runs it on its groupwise kernel
IM2COL = (8, 16, 256, 3, 1)
POINTWISE = (64, 64, 56, 1, 1)
GROUPWISE = (64, 64, 56, 3, 8)
RESNET = (64, 64, 56, 3, 1)
CASES = {
    "fbgemm_8to8_256_vnni": ("fbgemm",) + ISSUE,
    "fbgemm_8to8_256_avx2": ("fbgemm",) + ISSUE,
    "fbgemm_im2col_8to16_256_vnni": ("fbgemm",) + IM2COL,
    "fbgemm_im2col_8to16_256_avx2": ("fbgemm",) + IM2COL,
    "fbgemm_pointwise_vnni": ("fbgemm",) + POINTWISE,
    "fbgemm_pointwise_avx2": ("fbgemm",) + POINTWISE,
    "fbgemm_depthwise": ("fbgemm", 32, 32, 112, 3, 32),
    "fbgemm_groupwise_vnni": ("fbgemm",) + GROUPWISE,
    "fbgemm_groupwise_avx2": ("fbgemm",) + GROUPWISE,
    "fbgemm_resnet_vnni": ("fbgemm",) + RESNET,
    "fbgemm_resnet_avx2": ("fbgemm",) + RESNET,
    "fbgemm_16to16_512_vnni": ("fbgemm", 16, 16, 512, 3, 1),
    "fbgemm_16to16_512_avx2": ("fbgemm", 16, 16, 512, 3, 1),
    "onednn_8to8_256": ("onednn",) + ISSUE,
    "x86_8to8_256": ("x86",) + ISSUE,
    "qnnpack_8to8_256": ("qnnpack",) + ISSUE,
}


def module(engine, cin, cout, hw, k, groups):
    torch.backends.quantized.engine = engine
    torch.manual_seed(0)
    x = torch._make_per_tensor_quantized_tensor(
        torch.randint(0, 256, (1, cin, hw, hw), dtype=torch.uint8), 0.0078, 3)
    w = torch._make_per_channel_quantized_tensor(
        torch.randint(-127, 128, (cout, cin // groups, k, k), dtype=torch.int8),
        torch.tensor([0.002 + (c % 8) * 0.0003 for c in range(cout)], dtype=torch.double),
        torch.zeros(cout, dtype=torch.long), 0)
    # The weights are packed for the engine set above (set_weight_bias prepacks).
    m = nnq.Conv2d(cin, cout, k, padding=k // 2, groups=groups)
    m.set_weight_bias(w, torch.tensor([(c % 8) * 0.01 - 0.03 for c in range(cout)]))
    m.scale, m.zero_point = 0.05, 128
    return m, x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    torch.set_num_threads(1)
    avx2 = os.environ.get("FBGEMM_ENABLE_INSTRUCTIONS", "").upper() == "AVX2"
    only = set(filter(None, a.only.split(",")))
    for id, (engine, *shape) in CASES.items():
        if only and id not in only:
            continue
        if id.endswith("_avx2") != avx2:
            continue
        m, x = module(engine, *shape)
        for _ in range(10):
            m(x)
        # Warm up for ~0.2 s, then time single forwards.
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 0.2:
            m(x)
        times = []
        for _ in range(a.runs):
            t = time.perf_counter()
            m(x)
            times.append(time.perf_counter() - t)
        print(f"{id} {statistics.median(times):.9f} {a.runs} {engine}", flush=True)
    print(f"# torch {torch.__version__}, 1 thread, FBGEMM_ENABLE_INSTRUCTIONS="
          f"{os.environ.get('FBGEMM_ENABLE_INSTRUCTIONS', '')}", file=sys.stderr)


if __name__ == "__main__":
    main()
