//! ONNX Runtime's U8S8 kernels on CPUs without VNNI: int16 pair saturation,
//! modelled from MLAS's source (no golden data: the vectors were made on an
//! AVX512-VNNI machine, where every MLAS kernel is exact).
//!
//! Which kernels (`onnxruntime/core/mlas/lib`, `platform.cpp` picks them by cpuid):
//!
//! - **GEMM, U8S8** (`QgemmU8S8KernelAvx2.asm`, `QgemmU8S8KernelAvx512Core.asm`;
//!   `qgemm_kernel_avx2.cpp`: `PackedK = 4`, K strides 128/384): A (the im2col
//!   activations, u8) is packed 4 bytes per row, B (the int8 weights) 4 K-rows
//!   interleaved per column; the kernel broadcasts 4 A bytes and runs
//!   `vpmaddubsw` (u8·s8 pairs `(k, k+1)` for even `k`, summed with int16
//!   saturation) then `vpmaddwd` against 16-bit ones (exact widening). The zero
//!   points are applied afterwards from row and column sums, so the pairs hold
//!   raw codes. With AVX512-VNNI (or AVX-VNNI) the kernel uses `vpdpbusd`: exact.
//! - **MlasConvSym, U8S8** (`ConvSymKernelAvx2.asm`, `...Avx512Core.asm`; used when
//!   the weights are symmetric, input channels a multiple of 4, output channels
//!   at least 16 and a multiple of 8): per kernel tap, 4 input channels broadcast
//!   against the packed filter, the same `vpmaddubsw` + `vpmaddwd`: pairs
//!   `(c, c+1)` within a tap, i.e. the GEMM's pairs again.
//! - **depthwise** (one input and one output channel per group): the ConvSym
//!   depthwise kernel widens both operands to 32 bits and uses `vpmaddwd` with one
//!   live word (exact), and `MlasConvDepthwise` works on zero-point-centred int16
//!   values with int32 products (exact). A depth multiplier above 1 goes to the GEMM.
//! - **U8U8** (`QgemmU8U8KernelAvx2.asm`: both operands widened to int16,
//!   `vpmaddwd`) and **S8S8** (no x64 kernel without AVX-VNNI-INT8: the portable C
//!   dispatch, int32 products): exact.
//!
//! The reduction index of ORT's QLinearConv is NHWC (`(ky, kx, channel)` within
//! a group, filters reordered to match), padded taps hold the input zero point,
//! and K is padded to a multiple of 4 with zero weights: exactly fbgemm's im2col
//! pairing, so the arithmetic is [`crate::fbgemm_gemm`]'s pair model:
//! `acc = sum sat16(a_k w_k + a_k+1 w_k+1) - zw·rowsum(a) - zx·(sum(w) - zw·K)`.
use crate::conv::{ConvShape, IntConv};
use crate::engine::Platform;
use crate::error::Result;
use crate::fbgemm_gemm::SaturatedPair;

/// What users see wherever this model decides a result.
pub const LABEL: &str = "modelled, not verified on this CPU";

/// Whether ORT's MLAS kernel for this conv sums u8·s8 pairs with int16
/// saturation on `pl`: U8S8 (uint8 activations, int8 weights), not depthwise,
/// and a CPU whose cpuid shows no VNNI.
pub fn saturates(shape: &ConvShape, u8s8: bool, pl: &Platform) -> bool {
    u8s8 && !is_depthwise(shape) && !pl.reports_vnni()
}

/// ORT's depthwise test: one input and one output channel per group.
pub fn is_depthwise(shape: &ConvShape) -> bool {
    shape.groups > 1 && shape.in_channels == shape.groups && shape.out_channels == shape.groups
}

/// The accumulators MLAS's saturating U8S8 kernels form (flat NCHW).
pub fn accumulate(conv: &IntConv) -> Result<Vec<i32>> {
    crate::fbgemm_gemm::pair_sums(conv)
}

/// The pairs of output element `index` whose int16 sum saturated.
pub fn saturated_pairs(conv: &IntConv, index: usize) -> Vec<SaturatedPair> {
    if conv.validate().is_err() || index >= conv.shape.output_len() {
        return vec![];
    }
    crate::fbgemm_gemm::pairs_of(conv, index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::Codes;
    use crate::engine::Cpu;

    fn shape(cin: usize, k: usize) -> ConvShape {
        ConvShape {
            batch: 1,
            in_channels: cin,
            out_channels: 1,
            height: k,
            width: k,
            kernel: [k, k],
            stride: [1, 1],
            padding: [0, 0],
            padding_end: None,
            dilation: [1, 1],
            groups: 1,
        }
    }

    #[test]
    fn a_pair_past_int16_is_clamped_by_hand() {
        // 1x1 conv, 4 input channels, one pixel: activations 200, 250, 10, 20
        // (zx = 0), weights 100, 90, -5, 7 (zw = 0).
        // Pair (0, 1): 200·100 + 250·90 = 20000 + 22500 = 42500 > 32767 -> 32767.
        // Pair (2, 3): 10·(-5) + 20·7 = -50 + 140 = 90.
        // MLAS without VNNI: 32767 + 90 = 32857; exact: 42500 + 90 = 42590.
        let s = shape(4, 1);
        let x = [200u8, 250, 10, 20];
        let w = [100i8, 90, -5, 7];
        let conv = IntConv {
            shape: &s,
            input: Codes::QUInt8(&x),
            input_zero_point: 0,
            weight: &w,
            weight_zero_points: &[0],
        };
        assert_eq!(accumulate(&conv).unwrap(), vec![32857]);
        assert_eq!(conv.accumulate().unwrap(), vec![42590]);
        let p = saturated_pairs(&conv, 0);
        assert_eq!(p.len(), 1);
        assert_eq!((p[0].exact, p[0].clamped), (42500, 32767));
    }

    #[test]
    fn zero_points_are_corrections_after_the_pairs_by_hand() {
        // Same pixel with zx = 128, zw = 3: the pairs still hold raw codes.
        // raw = 32767 + 90 = 32857; rowsum(a) = 480, sum(w) = 192, K = 4:
        // acc = 32857 - 3·480 - 128·(192 - 3·4) = 32857 - 1440 - 23040 = 8377.
        // Exact: (72·97 + 122·87) + (-118·(-8) + -108·4) = 17598 + 512 = 18110.
        let s = shape(4, 1);
        let x = [200u8, 250, 10, 20];
        let w = [100i8, 90, -5, 7];
        let conv = IntConv {
            shape: &s,
            input: Codes::QUInt8(&x),
            input_zero_point: 128,
            weight: &w,
            weight_zero_points: &[3],
        };
        assert_eq!(accumulate(&conv).unwrap(), vec![8377]);
        assert_eq!(conv.accumulate().unwrap(), vec![18110]);
    }

    #[test]
    fn pairs_run_along_channels_then_taps_by_hand() {
        // 3 input channels, 1x2 kernel: K order (kx, c) = (0,0) (0,1) (0,2) (1,0)
        // (1,1) (1,2); pairs (c0,c1 at kx0), (c2 at kx0, c0 at kx1), (c1,c2 at kx1).
        // Only the middle pair gets two large products: 255·127 + 255·127 = 64770 -> 32767.
        let s = ConvShape {
            kernel: [1, 2],
            height: 1,
            width: 2,
            ..shape(3, 1)
        };
        // NCHW input: channel c at (0, 0) and (0, 1).
        let x = [1u8, 1, 1, 255, 255, 1];
        // OIHW weights: w[c][kx].
        let w = [1i8, 127, 1, 1, 127, 1];
        let conv = IntConv {
            shape: &s,
            input: Codes::QUInt8(&x),
            input_zero_point: 0,
            weight: &w,
            weight_zero_points: &[0],
        };
        // Taps: (kx0: c0 1·1, c1 1·1, c2 255·127), (kx1: c0 1·127, c1 255·1, c2 1·1).
        // Pairs: 1 + 1 = 2; 32385 + 127 = 32512 (fits); 255 + 1 = 256: nothing saturates.
        assert_eq!(accumulate(&conv).unwrap(), conv.accumulate().unwrap());
        // Now make the middle pair overflow: c0 at kx1 = 255 with weight 127.
        let x = [1u8, 255, 1, 255, 255, 1];
        let conv = IntConv {
            input: Codes::QUInt8(&x),
            ..conv
        };
        // Middle pair: 255·127 + 255·127 = 64770 -> 32767; others 1 + 1 = 2, 255 + 1 = 256.
        assert_eq!(accumulate(&conv).unwrap(), vec![2 + 32767 + 256]);
    }

    #[test]
    fn only_u8s8_non_depthwise_without_vnni_saturates() {
        let s = shape(4, 3);
        let avx2 = Platform {
            cpu: Cpu::Avx2,
            ..Platform::default()
        };
        assert!(saturates(&s, true, &avx2));
        assert!(!saturates(&s, false, &avx2));
        assert!(!saturates(&s, true, &Platform::default()));
        let dw = ConvShape {
            out_channels: 4,
            groups: 4,
            ..s
        };
        assert!(!saturates(&dw, true, &avx2));
        // Depth multiplier 2: the GEMM, which saturates.
        let dm = ConvShape {
            out_channels: 8,
            ..dw
        };
        assert!(saturates(&dm, true, &avx2));
    }
}
