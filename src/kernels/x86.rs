//! x86-64 register tiles of the pair kernels (see the parent module).
use std::arch::x86_64::*;

/// 8 output channels x 32 columns (two zmm per channel): per tap two loads,
/// eight broadcasts and sixteen `vpdpwssd` (multiply pairs, add, in one).
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub(super) unsafe fn tile_vnni(x: *const i32, offs: &[usize], w: *const i32, acc: *mut i32) {
    let mut a = [[_mm512_setzero_si512(); 2]; 8];
    for (t, &off) in offs.iter().enumerate() {
        let p = x.add(off);
        let x0 = _mm512_loadu_si512(p as *const _);
        let x1 = _mm512_loadu_si512(p.add(16) as *const _);
        let wt = w.add(t * 8);
        for (j, aj) in a.iter_mut().enumerate() {
            let wv = _mm512_set1_epi32(*wt.add(j));
            aj[0] = _mm512_dpwssd_epi32(aj[0], x0, wv);
            aj[1] = _mm512_dpwssd_epi32(aj[1], x1, wv);
        }
    }
    for (j, aj) in a.iter().enumerate() {
        _mm512_storeu_si512(acc.add(j * 32) as *mut _, aj[0]);
        _mm512_storeu_si512(acc.add(j * 32 + 16) as *mut _, aj[1]);
    }
}

/// 4 output channels x 16 columns (two ymm per channel): `vpmaddwd` forms the
/// exact pair sums, `vpaddd` accumulates.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn tile_avx2(x: *const i32, offs: &[usize], w: *const i32, acc: *mut i32) {
    let mut a = [[_mm256_setzero_si256(); 2]; 4];
    for (t, &off) in offs.iter().enumerate() {
        let p = x.add(off);
        let x0 = _mm256_loadu_si256(p as *const _);
        let x1 = _mm256_loadu_si256(p.add(8) as *const _);
        let wt = w.add(t * 4);
        for (j, aj) in a.iter_mut().enumerate() {
            let wv = _mm256_set1_epi32(*wt.add(j));
            aj[0] = _mm256_add_epi32(aj[0], _mm256_madd_epi16(x0, wv));
            aj[1] = _mm256_add_epi32(aj[1], _mm256_madd_epi16(x1, wv));
        }
    }
    for (j, aj) in a.iter().enumerate() {
        _mm256_storeu_si256(acc.add(j * 16) as *mut _, aj[0]);
        _mm256_storeu_si256(acc.add(j * 16 + 8) as *mut _, aj[1]);
    }
}

/// As `tile_vnni` on raw bytes: `vpdpbusd` sums four unsigned activation x
/// signed weight byte products per lane, without saturation. Channel `j`'s 32
/// sums, plus `add[j]`, go to `dst + j·stride` (a row of the output, or a
/// scratch tile).
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub(super) unsafe fn tile_vnni_bytes(
    x: *const i32,
    offs: &[usize],
    w: *const i32,
    dst: *mut i32,
    stride: usize,
    add: *const i32,
) {
    let mut a = [[_mm512_setzero_si512(); 2]; 8];
    for (t, &off) in offs.iter().enumerate() {
        let p = x.add(off);
        let x0 = _mm512_loadu_si512(p as *const _);
        let x1 = _mm512_loadu_si512(p.add(16) as *const _);
        let wt = w.add(t * 8);
        for (j, aj) in a.iter_mut().enumerate() {
            let wv = _mm512_set1_epi32(*wt.add(j));
            aj[0] = _mm512_dpbusd_epi32(aj[0], x0, wv);
            aj[1] = _mm512_dpbusd_epi32(aj[1], x1, wv);
        }
    }
    for (j, aj) in a.iter().enumerate() {
        let f = _mm512_set1_epi32(*add.add(j));
        let d = dst.add(j * stride);
        _mm512_storeu_si512(d as *mut _, _mm512_add_epi32(aj[0], f));
        _mm512_storeu_si512(d.add(16) as *mut _, _mm512_add_epi32(aj[1], f));
    }
}

/// 4 output channels x 16 columns on raw bytes (two ymm per channel):
/// `vpmaddubsw` sums each pair of unsigned activation x signed weight byte
/// products with int16 saturation (fbgemm's AVX2 step), `vpmaddwd` by ones adds
/// the two pair sums of a lane exactly, `vpaddd` accumulates (wrapping). Stored
/// as `tile_vnni_bytes` stores.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn tile_avx2_bytes_sat(
    x: *const i32,
    offs: &[usize],
    w: *const i32,
    dst: *mut i32,
    stride: usize,
    add: *const i32,
) {
    let ones = _mm256_set1_epi16(1);
    let mut a = [[_mm256_setzero_si256(); 2]; 4];
    for (t, &off) in offs.iter().enumerate() {
        let p = x.add(off);
        let x0 = _mm256_loadu_si256(p as *const _);
        let x1 = _mm256_loadu_si256(p.add(8) as *const _);
        let wt = w.add(t * 4);
        for (j, aj) in a.iter_mut().enumerate() {
            let wv = _mm256_set1_epi32(*wt.add(j));
            let s0 = _mm256_madd_epi16(_mm256_maddubs_epi16(x0, wv), ones);
            let s1 = _mm256_madd_epi16(_mm256_maddubs_epi16(x1, wv), ones);
            aj[0] = _mm256_add_epi32(aj[0], s0);
            aj[1] = _mm256_add_epi32(aj[1], s1);
        }
    }
    for (j, aj) in a.iter().enumerate() {
        let f = _mm256_set1_epi32(*add.add(j));
        let d = dst.add(j * stride);
        _mm256_storeu_si256(d as *mut _, _mm256_add_epi32(aj[0], f));
        _mm256_storeu_si256(d.add(8) as *mut _, _mm256_add_epi32(aj[1], f));
    }
}
