//! The benchmark: a 3x3, 8->8 channel quantized conv on a 256x256
//! input with the fbgemm engine, end to end (accumulate + requantize), with
//! and without a full trace of every output pixel.
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use qconv_lens::conv::{ConvShape, IntConv, Scratch};
use qconv_lens::engine::{Computation, ConvQParams, Requant};
use qconv_lens::trace::Trace;

fn setup() -> (ConvShape, Vec<u8>, Vec<i8>, ConvQParams) {
    let s = ConvShape {
        batch: 1,
        in_channels: 8,
        out_channels: 8,
        height: 256,
        width: 256,
        kernel: [3, 3],
        stride: [1, 1],
        padding: [1, 1],
        padding_end: None,
        dilation: [1, 1],
        groups: 1,
    };
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
    let p = ConvQParams {
        input_scale: 0.0078,
        input_zero_point: 3,
        weight_scales: (0..8).map(|c| 0.002 + c as f64 * 0.0003).collect(),
        weight_zero_points: vec![0; 8],
        per_channel: true,
        bias: Some((0..8).map(|c| c as f32 * 0.01 - 0.03).collect()),
        output_scale: 0.05,
        output_zero_point: 128,
        relu: false,
        input_dtype: qconv_lens::quant::DType::QUInt8,
        output_dtype: qconv_lens::quant::DType::QUInt8,
        bias_i32: None,
        relu6: false,
        weight_dtype: qconv_lens::quant::DType::QInt8,
        depthwise_op: false,
    };
    (s, x, w, p)
}

fn run(s: &ConvShape, x: &[u8], w: &[i8], p: &ConvQParams) -> Vec<i32> {
    let acc = IntConv {
        shape: s,
        input: qconv_lens::conv::Codes::QUInt8(x),
        input_zero_point: p.input_zero_point,
        weight: w,
        weight_zero_points: &p.weight_zero_points,
    }
    .accumulate()
    .unwrap();
    let r = Requant::new(Computation::FBGEMM, p, s, &Default::default()).unwrap();
    let plane = 256 * 256;
    let mut out = vec![0i32; acc.len()];
    for (c, (a, o)) in acc.chunks(plane).zip(out.chunks_mut(plane)).enumerate() {
        r.plane(c, a, o);
    }
    out
}

/// The page's steady state: buffers kept between recomputations.
fn run_reusing(
    s: &ConvShape,
    x: &[u8],
    w: &[i8],
    p: &ConvQParams,
    bufs: &mut (Scratch, Vec<i32>, Vec<i32>),
) {
    let (scratch, acc, out) = bufs;
    IntConv {
        shape: s,
        input: qconv_lens::conv::Codes::QUInt8(x),
        input_zero_point: p.input_zero_point,
        weight: w,
        weight_zero_points: &p.weight_zero_points,
    }
    .accumulate_into(scratch, acc)
    .unwrap();
    let r = Requant::new(Computation::FBGEMM, p, s, &Default::default()).unwrap();
    out.resize(acc.len(), 0);
    let plane = 256 * 256;
    for (c, (a, o)) in acc.chunks(plane).zip(out.chunks_mut(plane)).enumerate() {
        r.plane(c, a, o);
    }
}

fn bench(c: &mut Criterion) {
    let (s, x, w, p) = setup();
    let mut g = c.benchmark_group("conv3x3_8to8_256x256_fbgemm");
    g.throughput(Throughput::Elements(s.output_len() as u64));
    g.sample_size(30);
    g.bench_function("accumulate_requantize", |b| {
        b.iter(|| run(black_box(&s), black_box(&x), &w, &p))
    });
    let mut bufs = (Scratch::default(), vec![], vec![]);
    g.bench_function("accumulate_requantize_reusing_buffers", |b| {
        b.iter(|| run_reusing(black_box(&s), black_box(&x), &w, &p, &mut bufs))
    });
    let acc = IntConv {
        shape: &s,
        input: qconv_lens::conv::Codes::QUInt8(&x),
        input_zero_point: 3,
        weight: &w,
        weight_zero_points: &p.weight_zero_points,
    }
    .accumulate()
    .unwrap();
    let r = Requant::new(Computation::FBGEMM, &p, &s, &Default::default()).unwrap();
    g.bench_function("accumulate_only", |b| {
        b.iter(|| {
            IntConv {
                shape: &s,
                input: qconv_lens::conv::Codes::QUInt8(black_box(&x)),
                input_zero_point: 3,
                weight: &w,
                weight_zero_points: &p.weight_zero_points,
            }
            .accumulate()
            .unwrap()
        })
    });
    g.bench_function("requantize_only", |b| {
        b.iter(|| {
            let mut out = vec![0i32; acc.len()];
            for (c, (a, o)) in acc
                .chunks(256 * 256)
                .zip(out.chunks_mut(256 * 256))
                .enumerate()
            {
                r.plane(c, a, o);
            }
            out
        })
    });
    g.sample_size(10);
    g.bench_function("requantize_with_trace_of_every_pixel", |b| {
        b.iter(|| {
            let mut steps = 0usize;
            for (i, &a) in acc.iter().enumerate() {
                let mut t = Trace::default();
                r.pixel(i / (256 * 256), a, &mut t);
                steps += t.steps.len();
            }
            steps
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
