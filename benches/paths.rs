//! One benchmark per kernel path of the engines: accumulate (the kernel's own
//! accumulation, `kernel.accumulation.run`) + requantize every output plane,
//! with the buffers kept between runs as the page keeps them
//! (`Scenario::run_in`: `Requant::new`, then the accumulation into a reused
//! `Scratch` and accumulator vector, then `Requant::plane` per channel).
//!
//! `cargo bench --bench paths -- --noplot` (or a filter: `-- --noplot pointwise`).
//! `benches/torch_paths.py` times the same convs in PyTorch, and
//! `benches/compare_paths.sh` runs both, interleaved, and prints the ratios.
use criterion::{black_box, criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use qconv_lens::conv::{Codes, ConvShape, IntConv, Scratch};
use qconv_lens::engine::{Computation, ConvQParams, Cpu, Os, Platform, Requant};
use qconv_lens::quant::DType;
use std::time::Duration;

/// A real AVX512-VNNI Linux server (the golden vectors' machine, this VM).
const VNNI: Platform = Platform {
    cpu: Cpu::Avx512Vnni,
    os: Os::Linux,
    emulated: false,
};
/// A CPU with AVX2 and no AVX512: fbgemm's `vpmaddubsw` int16 pair saturation.
const AVX2: Platform = Platform {
    cpu: Cpu::Avx2,
    os: Os::Linux,
    emulated: false,
};

/// One benchmark: a conv, an engine, a platform, and the path it must take.
pub struct Case {
    /// Criterion id inside the `paths` group (`benches/compare_paths.sh` reads it).
    pub id: &'static str,
    pub computation: Computation,
    pub platform: Platform,
    pub shape: ConvShape,
    /// (kernel name, path) that `Requant::new` must pick, checked before timing.
    pub expect: (&'static str, &'static str),
}

fn shape(cin: usize, cout: usize, hw: usize, k: usize, groups: usize) -> ConvShape {
    ConvShape {
        batch: 1,
        in_channels: cin,
        out_channels: cout,
        height: hw,
        width: hw,
        kernel: [k, k],
        stride: [1, 1],
        padding: [k / 2, k / 2],
        padding_end: None,
        dilation: [1, 1],
        groups,
    }
}

pub fn cases() -> Vec<Case> {
    // The issue's conv (benches/conv.rs). With 8 input = 8 output channels in
    // one group fbgemm runs it on its groupwise kernel, not im2col
    // (`fbgemmOptimizedGConv`: groups 1 >= numOfGroupsTogether 1).
    let issue = shape(8, 8, 256, 3, 1);
    // The same footprint with 16 outputs: im2col + GEMM.
    let im2col = shape(8, 16, 256, 3, 1);
    let pointwise = shape(64, 64, 56, 1, 1);
    let depthwise = shape(32, 32, 112, 3, 32);
    let groupwise = shape(64, 64, 56, 3, 8);
    let resnet = shape(64, 64, 56, 3, 1);
    // The browser budget's large conv: 16 = 16 channels in one group is
    // groupwise again (numOfGroupsTogether 1).
    let wide16 = shape(16, 16, 512, 3, 1);
    let c = |id, computation, platform, shape, expect| Case {
        id,
        computation,
        platform,
        shape,
        expect,
    };
    use Computation as C;
    vec![
        c(
            "fbgemm_8to8_256_vnni",
            C::FBGEMM,
            VNNI,
            issue,
            ("fbgemm", "groupwise"),
        ),
        c(
            "fbgemm_8to8_256_avx2",
            C::FBGEMM,
            AVX2,
            issue,
            ("fbgemm", "groupwise"),
        ),
        c(
            "fbgemm_im2col_8to16_256_vnni",
            C::FBGEMM,
            VNNI,
            im2col,
            ("fbgemm", "im2col"),
        ),
        c(
            "fbgemm_im2col_8to16_256_avx2",
            C::FBGEMM,
            AVX2,
            im2col,
            ("fbgemm", "im2col"),
        ),
        c(
            "fbgemm_pointwise_vnni",
            C::FBGEMM,
            VNNI,
            pointwise,
            ("fbgemm", "pointwise"),
        ),
        c(
            "fbgemm_pointwise_avx2",
            C::FBGEMM,
            AVX2,
            pointwise,
            ("fbgemm", "pointwise"),
        ),
        c(
            "fbgemm_depthwise",
            C::FBGEMM,
            VNNI,
            depthwise,
            ("fbgemm", "depthwise"),
        ),
        c(
            "fbgemm_groupwise_vnni",
            C::FBGEMM,
            VNNI,
            groupwise,
            ("fbgemm", "groupwise"),
        ),
        c(
            "fbgemm_groupwise_avx2",
            C::FBGEMM,
            AVX2,
            groupwise,
            ("fbgemm", "groupwise"),
        ),
        c(
            "fbgemm_resnet_vnni",
            C::FBGEMM,
            VNNI,
            resnet,
            ("fbgemm", "im2col"),
        ),
        c(
            "fbgemm_resnet_avx2",
            C::FBGEMM,
            AVX2,
            resnet,
            ("fbgemm", "im2col"),
        ),
        c(
            "fbgemm_16to16_512_vnni",
            C::FBGEMM,
            VNNI,
            wide16,
            ("fbgemm", "groupwise"),
        ),
        c(
            "fbgemm_16to16_512_avx2",
            C::FBGEMM,
            AVX2,
            wide16,
            ("fbgemm", "groupwise"),
        ),
        c("onednn_8to8_256", C::ONEDNN, VNNI, issue, ("onednn", "")),
        c("x86_8to8_256", C::X86, VNNI, issue, ("onednn", "")),
        c("qnnpack_8to8_256", C::QNNPACK, VNNI, issue, ("qnnpack", "")),
    ]
}

/// Codes and parameters as in `benches/conv.rs`: random quint8 input, qint8
/// weights in -127..127, per-channel scales, float bias, zero weight zero points.
pub fn operands(s: &ConvShape) -> (Vec<u8>, Vec<i8>, ConvQParams) {
    let mut st = 42u64;
    let mut rnd = |m: u64| {
        st = st
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (st >> 33) % m
    };
    let x: Vec<u8> = (0..s.input_len()).map(|_| rnd(256) as u8).collect();
    let w: Vec<i8> = (0..s.weight_len())
        .map(|_| (rnd(255) as i64 - 127) as i8)
        .collect();
    let oc = s.out_channels;
    let p = ConvQParams {
        input_scale: 0.0078,
        input_zero_point: 3,
        weight_scales: (0..oc).map(|c| 0.002 + (c % 8) as f64 * 0.0003).collect(),
        weight_zero_points: vec![0; oc],
        per_channel: true,
        bias: Some((0..oc).map(|c| (c % 8) as f32 * 0.01 - 0.03).collect()),
        output_scale: 0.05,
        output_zero_point: 128,
        relu: false,
        input_dtype: DType::QUInt8,
        output_dtype: DType::QUInt8,
        bias_i32: None,
        relu6: false,
        weight_dtype: DType::QInt8,
        depthwise_op: false,
    };
    (x, w, p)
}

/// Buffers kept between runs.
#[derive(Default)]
struct Bufs {
    scratch: Scratch,
    acc: Vec<i32>,
    out: Vec<i32>,
}

fn run(case: &Case, x: &[u8], w: &[i8], p: &ConvQParams, b: &mut Bufs) {
    let s = &case.shape;
    let rq = Requant::new(case.computation, p, s, &case.platform).unwrap();
    let conv = IntConv {
        shape: s,
        input: Codes::QUInt8(x),
        input_zero_point: p.input_zero_point,
        weight: w,
        weight_zero_points: &p.weight_zero_points,
    };
    rq.kernel
        .accumulation
        .run(&conv, &mut b.scratch, &mut b.acc)
        .unwrap();
    b.out.resize(b.acc.len(), 0);
    let (oh, ow) = s.output_hw();
    let plane = oh * ow;
    for (i, (a, o)) in b.acc.chunks(plane).zip(b.out.chunks_mut(plane)).enumerate() {
        rq.plane(i % s.out_channels, a, o);
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("paths");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for case in cases() {
        let (x, w, p) = operands(&case.shape);
        // Not a timing check: the benchmark must measure the path it is named after.
        let k = Requant::new(case.computation, &p, &case.shape, &case.platform)
            .unwrap()
            .kernel;
        assert_eq!(k.name, case.expect.0, "{}: {}", case.id, k.why);
        if !case.expect.1.is_empty() {
            assert_eq!(k.path, Some(case.expect.1), "{}: {}", case.id, k.why);
        }
        eprintln!("{}: {}", case.id, k.why);
        g.throughput(Throughput::Elements(case.shape.output_len() as u64));
        let mut bufs = Bufs::default();
        g.bench_function(case.id, |b| {
            b.iter(|| run(&case, black_box(&x), black_box(&w), &p, &mut bufs))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
