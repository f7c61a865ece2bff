"""PyTorch's own time for the benchmark conv of benches/conv.rs: a 3x3, 8->8
channel quantized Conv2d on a 1x8x256x256 quint8 input, fbgemm engine,
per-channel qint8 weights, float bias. Prints the median of repeated runs.
usage: python3 benches/torch_conv.py [threads]"""
import sys, time, statistics
import torch
import torch.ao.nn.quantized as nnq

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
torch.set_num_threads(threads)
torch.backends.quantized.engine = "fbgemm"
torch.manual_seed(0)
x = torch._make_per_tensor_quantized_tensor(torch.randint(0, 256, (1, 8, 256, 256), dtype=torch.uint8), 0.0078, 3)
w = torch._make_per_channel_quantized_tensor(torch.randint(-127, 128, (8, 8, 3, 3), dtype=torch.int8),
                                             torch.tensor([0.002 + c * 0.0003 for c in range(8)], dtype=torch.double),
                                             torch.zeros(8, dtype=torch.long), 0)
m = nnq.Conv2d(8, 8, 3, padding=1)
m.set_weight_bias(w, torch.tensor([c * 0.01 - 0.03 for c in range(8)]))
m.scale, m.zero_point = 0.05, 128
for _ in range(20):
    m(x)
times = []
for _ in range(200):
    t = time.perf_counter(); m(x); times.append(time.perf_counter() - t)
med = statistics.median(times)
print(f"torch {torch.__version__} fbgemm, {threads} thread(s): median {med*1e3:.3f} ms, "
      f"{1*8*256*256/med/1e6:.1f} Melem/s (output elements)")
