//! wasm SIMD128 register tile of the pair kernels (see the parent module).
use core::arch::wasm32::*;

/// 4 output channels x 8 columns (two v128 per channel): `i32x4.dot_i16x8_s`
/// forms the exact pair sums, `i32x4.add` accumulates. With `SATURATE` each
/// pair sum is first clamped to int16, as AVX2's `vpmaddubsw` keeps it (both
/// products fit int16, so only their sum saturates), and the adds wrap.
#[target_feature(enable = "simd128")]
pub(super) unsafe fn tile<const SATURATE: bool>(
    x: *const i32,
    offs: &[usize],
    w: *const i32,
    acc: *mut i32,
) {
    let (lo, hi) = (i32x4_splat(i16::MIN as i32), i32x4_splat(i16::MAX as i32));
    let pair = |x: v128, w: v128| {
        let d = i32x4_dot_i16x8(x, w);
        if SATURATE {
            i32x4_max(i32x4_min(d, hi), lo)
        } else {
            d
        }
    };
    let mut a = [[i32x4_splat(0); 2]; 4];
    for (t, &off) in offs.iter().enumerate() {
        let p = x.add(off);
        let x0 = v128_load(p as *const v128);
        let x1 = v128_load(p.add(4) as *const v128);
        let wt = w.add(t * 4);
        for (j, aj) in a.iter_mut().enumerate() {
            let wv = i32x4_splat(*wt.add(j));
            aj[0] = i32x4_add(aj[0], pair(x0, wv));
            aj[1] = i32x4_add(aj[1], pair(x1, wv));
        }
    }
    for (j, aj) in a.iter().enumerate() {
        v128_store(acc.add(j * 8) as *mut v128, aj[0]);
        v128_store(acc.add(j * 8 + 4) as *mut v128, aj[1]);
    }
}
