//! The runtime presets (PyTorch vs ONNX Runtime, ONNX Runtime's QDQ paths,
//! TFLite's kernels, a microcontroller reimplementation vs TFLite): each a 1x1
//! conv over every input code, opening on a pixel where A and B differ.
use crate::engine::{Computation, ConvQParams, HandAssumptions, Platform, Rounding};
use crate::quant::DType;
use crate::scenario::{shape, InputSource, Scenario, View};

/// The runtime preset `id`, if it is one.
pub fn preset(id: &str) -> Option<Scenario> {
    ONE_BY_ONE.iter().find(|p| p.id == id).map(plane_1x1)
}

/// A preset that is a 1x1 conv with one weight over a 16x16 plane holding
/// every code once (typed codes 0..255, or for int8 the ramp quantized with
/// zero point -128), per-tensor scales, the pixel (0, col) selected. Data, not
/// code: the page's first-load wasm has a size budget.
struct OneByOne {
    id: &'static str,
    weight: i8,
    /// sx, sw, sy.
    scales: [f64; 3],
    bias: Option<f32>,
    int8: bool,
    a: Computation,
    b: Computation,
    col: usize,
}

const fn engine(id: &'static str) -> Computation {
    Computation::of(id)
}

/// The runtime presets.
static ONE_BY_ONE: [OneByOne; 4] = [
    // The "bias" preset's conv exported by torch.onnx: the float bias of
    // 1072.9 accumulator units becomes int32 1072 (Cast truncates), which
    // fbgemm keeps as a float; pixels near a boundary move by one.
    OneByOne {
        id: "pytorch-vs-onnxruntime",
        weight: 3,
        scales: [0.0078, 0.0037, 7.3 * (0.0078f32 * 0.0037f32) as f64],
        bias: Some((1072.9 * (0.0078f32 * 0.0037f32) as f64) as f32),
        int8: false,
        a: Computation::FBGEMM,
        b: engine(crate::engine::ort_qlinearconv::ID),
        col: 4,
    },
    // sy = 2·f32(sx·sw): the fused path's multiplier is exactly 1/2, so every
    // odd accumulator is a tie rounded to even; the unfused float conv holds
    // f32(dx·dw), a little off the tie, and rounds some the other way
    // (onnxruntime issue 32132).
    OneByOne {
        id: "ort-qdq-tie",
        weight: 1,
        scales: [0.1, 0.3, 2.0 * (0.1f32 * 0.3f32) as f64],
        bias: None,
        int8: false,
        a: engine(crate::engine::ort_qdq_fused::ID),
        b: engine(crate::engine::ort_qdq_float::ID),
        col: 13,
    },
    // int8 ramp -128..127 (sx = 1/255, zx = -128), M = 1/2 exactly: at odd
    // accumulators the reference kernel's rounding high multiply goes half
    // up, XNNPACK's float32 requantization half to even.
    OneByOne {
        id: "tflite-vs-xnnpack",
        weight: 1,
        scales: [
            1.0 / 255.0,
            0.0078125,
            2.0 * ((1.0 / 255.0) as f32 as f64) * 0.0078125,
        ],
        bias: None,
        int8: true,
        a: engine(crate::engine::tflite_reference::ID),
        b: engine(crate::engine::tflite_xnnpack::ID),
        col: 1,
    },
    // A C reimplementation in float32 (roundf everywhere) against the TFLite
    // model it reimplements (the scenario converted to int8 with an int32
    // bias): M = 0.13 takes a right shift of 2, so the reference's two
    // roundings lift fractions in [.375, .5) to the next code (tensorflow
    // issue 25087).
    OneByOne {
        id: "microcontroller",
        weight: 3,
        scales: [0.0078, 0.0037, 0.000222],
        bias: Some(0.0317),
        int8: false,
        a: Computation {
            engine: crate::engine::hand::ID,
            hand: Some(HandAssumptions {
                print_input_scale: false,
                print_weight_scale: false,
                print_output_scale: false,
                print_bias: false,
                bias_rounding: crate::engine::BiasRounding::HalfAway,
                arithmetic: crate::engine::Arithmetic::F32,
                rounding: Rounding::HalfAway,
                ignore_zero_points: false,
                ignore_clamp: false,
                // The C code's float scale: the switch that makes it TFLite.
                fixed_point: false,
            }),
        },
        b: engine(crate::engine::tflite_reference::ID),
        col: 7,
    },
];

fn plane_1x1(p: &OneByOne) -> Scenario {
    let [sx, sw, sy] = p.scales;
    let (d, z) = if p.int8 {
        (DType::QInt8, -128)
    } else {
        (DType::QUInt8, 0)
    };
    Scenario {
        shape: shape(1, 1, 16, 16, 1, 0),
        input: if p.int8 {
            InputSource::Ramp
        } else {
            InputSource::Codes {
                codes: (0..=255).collect(),
            }
        },
        weights: vec![p.weight],
        params: ConvQParams {
            input_scale: sx,
            input_zero_point: z,
            weight_scales: vec![sw],
            weight_zero_points: vec![0],
            per_channel: false,
            bias: p.bias.map(|b| vec![b]),
            output_scale: sy,
            output_zero_point: z,
            relu: false,
            input_dtype: d,
            output_dtype: d,
            bias_i32: None,
            relu6: false,
            weight_dtype: DType::QInt8,
            depthwise_op: false,
        },
        a: p.a,
        b: p.b,
        platform: Platform::default(),
        view: View {
            pixel: Some((0, p.col)),
            ..View::default()
        },
    }
}
