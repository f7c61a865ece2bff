import base64, json, sys, zlib
import torch


def qconv_lens_scenario(conv, x, path, quant=None):
    """Write a quantized Conv2d or ConvReLU2d (torch.ao.nn.quantized) and its
    input as a qconv-lens scenario file: the exact codes, float64 scales,
    float32 bias, shape and engine. x: a quantized tensor, or a float tensor
    with quant= the converted QuantStub (e.g. model.quant) that feeds conv.
    Only the first image of a batch is kept."""
    if not x.is_quantized:
        if quant is None:
            raise ValueError("a float input needs quant= (the converted QuantStub, e.g. model.quant)")
        x = quant(x)
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dtype != torch.quint8 or x.qscheme() != torch.per_tensor_affine:
        raise ValueError("the input must be a per-tensor quint8 tensor")
    if conv.padding_mode != "zeros":
        raise ValueError("only zero padding is modelled")
    w, b = conv.weight(), conv.bias()
    per_channel = w.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric)
    if per_channel:
        if w.q_per_channel_axis() != 0:
            raise ValueError("per-channel weights must be quantized along axis 0")
        w_scales = w.q_per_channel_scales().double().tolist()
        w_zps = w.q_per_channel_zero_points().tolist()
    else:
        w_scales, w_zps = [w.q_scale()], [w.q_zero_point()]
    linux = sys.platform.startswith("linux")
    flags = open("/proc/cpuinfo").read() if linux else ""
    cpu = "avx512_vnni" if "avx512_vnni" in flags else "avx512" if "avx512f" in flags else "avx2"
    scenario = {
        "shape": {
            "batch": 1, "in_channels": conv.in_channels, "out_channels": conv.out_channels,
            "height": x.shape[2], "width": x.shape[3], "kernel": list(conv.kernel_size),
            "stride": list(conv.stride), "padding": list(conv.padding),
            "dilation": list(conv.dilation), "groups": conv.groups,
        },
        "input": {"kind": "codes", "codes": x[0].int_repr().flatten().tolist()},
        "weights": w.int_repr().flatten().tolist(),
        "params": {
            "input_scale": x.q_scale(), "input_zero_point": x.q_zero_point(),
            "weight_scales": w_scales, "weight_zero_points": w_zps,
            "per_channel": per_channel,
            "bias": None if b is None else b.float().tolist(),
            "output_scale": float(conv.scale), "output_zero_point": int(conv.zero_point),
            "relu": isinstance(conv, torch.ao.nn.intrinsic.quantized.ConvReLU2d),
        },
        "a": {"kind": torch.backends.quantized.engine}, "b": {"kind": "float"},
        "platform": {"cpu": cpu, "os": "linux" if linux else "other"},
    }
    text = json.dumps({"format": "qconv-lens-scenario", "version": 1,
                       "source": {"torch": torch.__version__, "module": repr(conv)},
                       "scenario": scenario}, allow_nan=False)
    with open(path, "w") as f:
        f.write(text)
    # A file link: the file itself, raw DEFLATE, base64url without padding.
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = z.compress(text.encode()) + z.flush()
    fragment = "#f=" + base64.urlsafe_b64encode(packed).rstrip(b"=").decode()
    print(f"wrote {path}: open it on the qconv-lens page (or qconv-lens link --scenario {path})")
    if len(fragment) - 1 <= 8000:  # longer links get cut in chats and mail
        print(f"link: append to the page's address: {fragment}")
    else:
        print(f"(no link: it would be {len(fragment) - 1} characters, over 8000)")
