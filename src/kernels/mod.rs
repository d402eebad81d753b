//! Numeric kernels on plain f32 slices, in three layers: the frame (geometry, packing,
//! im2col, output slots and the drivers), the portable micro-kernels (`generic`), and the
//! x86-64 AVX2+FMA ones (`x86_64`). [`Isa`] picks a variant at run time; every entry point
//! takes it, so tests run the same suite on every variant the CPU has.

pub mod fixedpoint;
pub mod frame;
mod generic;
pub mod int8;
#[cfg(target_arch = "x86_64")]
mod x86_64;

pub use frame::{as_slots, out_and_pad, seen_range, Clamp, ConvGeom, Fused, PackedW, Seen, Slots, SEEN_NONE};

/// Kernel results: errors are one-line messages that the op layer prefixes with the op.
pub type KResult<T> = Result<T, String>;

/// An instruction-set variant of the kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// Plain Rust, any CPU.
    Portable,
    /// AVX2 and FMA intrinsics (x86-64).
    #[cfg(target_arch = "x86_64")]
    Avx2Fma,
}

impl Isa {
    /// The fastest variant this CPU runs.
    pub fn best() -> Isa {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return Isa::Avx2Fma;
        }
        Isa::Portable
    }

    /// Every variant this CPU runs, portable first.
    pub fn available() -> Vec<Isa> {
        let mut v = vec![Isa::Portable];
        if Isa::best() != Isa::Portable {
            v.push(Isa::best());
        }
        v
    }
}

/// `c[m×n] = a·b + beta·c`, with `a` (m×k) and `b` (k×n) given by row and column strides and
/// `c` row-major (matrixmultiply's sgemm). Bounds are checked here, so the unsafe GEMM call
/// cannot read out of range.
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    (rsa, csa): (usize, usize),
    b: &[f32],
    (rsb, csb): (usize, usize),
    beta: f32,
    c: &mut [f32],
) -> KResult<()> {
    if m == 0 || n == 0 {
        return Ok(());
    }
    if c.len() < m * n {
        return Err("matrix output smaller than its shape".into());
    }
    if k == 0 {
        c[..m * n].iter_mut().for_each(|v| *v *= beta);
        return Ok(());
    }
    let last = |r: usize, rs: usize, cc: usize, cs: usize| (r - 1).checked_mul(rs).zip((cc - 1).checked_mul(cs));
    let fits = |len: usize, e: Option<(usize, usize)>| e.and_then(|(x, y)| x.checked_add(y)).is_some_and(|i| i < len);
    if !fits(a.len(), last(m, rsa, k, csa)) || !fits(b.len(), last(k, rsb, n, csb)) {
        return Err("matrix operand smaller than its shape".into());
    }
    let isz = |v: usize| isize::try_from(v).map_err(|_| "stride overflows".to_string());
    let (rsa, csa, rsb, csb, rsc) = (isz(rsa)?, isz(csa)?, isz(rsb)?, isz(csb)?, isz(n)?);
    // SAFETY: every element index the GEMM touches is within the slices (checked above: the
    // largest index of each operand is in bounds, and all strides are non-negative).
    unsafe {
        matrixmultiply::sgemm(m, k, n, 1.0, a.as_ptr(), rsa, csa, b.as_ptr(), rsb, csb, beta, c.as_mut_ptr(), rsc, 1);
    }
    Ok(())
}

/// `out[m×n] = clamp(bias + x[m×k] · wᵀ)` with pre-packed weights; x and out are row-major, and
/// every one of the m·n outputs is written. `seen` (set to Some on first use) is widened by
/// every value stored.
#[allow(clippy::too_many_arguments)]
pub fn gemm_packed(
    isa: Isa,
    m: usize,
    x: &[f32],
    pw: &PackedW,
    bias: Option<&[f32]>,
    clamp: Clamp,
    out: &mut Slots,
    seen: &mut Option<Seen>,
) -> KResult<()> {
    if x.len() < m * pw.k || out.len() < m * pw.n || bias.is_some_and(|b| b.len() != pw.n) {
        return Err("matrix operand smaller than its shape".into());
    }
    let s = seen.get_or_insert(SEEN_NONE);
    match isa {
        // SAFETY: the lengths were checked above; the portable variant needs no CPU feature.
        Isa::Portable => unsafe { frame::gemm_packed::<generic::Portable>(m, x, pw, bias, clamp, out, s) },
        // SAFETY: Avx2Fma is only ever made by Isa::best on a CPU with AVX2 and FMA.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma => unsafe { x86_64::gemm_packed(m, x, pw, bias, clamp, out, s) },
    }
    Ok(())
}

/// Checks a depthwise geometry against the slices it will be run on.
fn check_depthwise(g: &ConvGeom, x: usize, w: usize, bias: Option<&[f32]>, out: usize) -> KResult<()> {
    let ok = g.oc == g.c * g.mm
        && x == g.n * g.h * g.wd * g.c
        && w == g.kh * g.kw * g.oc
        && bias.map_or(true, |b| b.len() == g.oc)
        && out == g.n * g.oh * g.ow * g.oc
        && [g.kh, g.kw, g.sh, g.sw, g.dh, g.dw].iter().all(|&v| v > 0);
    if ok {
        Ok(())
    } else {
        Err("depthwise operands do not match their geometry".into())
    }
}

/// Depthwise convolution of `x` (NHWC) with filter `w` ([1, kh, kw, oc]) into every slot of
/// `out`. `seen` is Some afterwards when the kernel tracked the range of all it stored.
pub fn depthwise(
    isa: Isa,
    g: &ConvGeom,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    out: &mut Slots,
    seen: &mut Option<Seen>,
) -> KResult<()> {
    check_depthwise(g, x.len(), w.len(), bias, out.len())?;
    match isa {
        // SAFETY: the lengths were checked above; the portable variant needs no CPU feature.
        Isa::Portable => unsafe { frame::depthwise::<generic::Portable>(g, x, w, bias, out, seen) },
        // SAFETY: Avx2Fma is only ever made by Isa::best on a CPU with AVX2 and FMA.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma => unsafe { x86_64::depthwise(g, x, w, bias, out, seen) },
    }
    Ok(())
}

/// The fused 1×1 expansion and depthwise convolution ([`frame::expand_depthwise`]); None when
/// the shapes do not qualify.
#[allow(clippy::too_many_arguments)]
pub fn expand_depthwise(
    isa: Isa,
    g: &ConvGeom,
    x: &[f32],
    cin: usize,
    pw: &PackedW,
    b1: Option<&[f32]>,
    clamp1: Clamp,
    w: &[f32],
    b2: Option<&[f32]>,
) -> Option<Fused> {
    let qualifies = g.n == 1
        && g.mm == 1
        && g.c == g.oc
        && g.c % 16 == 0
        && g.h > 0
        && g.wd > 0
        && pw.n == g.c
        && pw.k == cin
        && x.len() == g.h * g.wd * cin
        && b1.map_or(true, |b| b.len() == g.c);
    if !qualifies || check_depthwise(g, g.h * g.wd * g.c, w.len(), b2, g.oh * g.ow * g.oc).is_err() {
        return None;
    }
    Some(match isa {
        // SAFETY: the shapes were checked above; the portable variant needs no CPU feature.
        Isa::Portable => unsafe { frame::expand_depthwise::<generic::Portable>(g, x, cin, pw, b1, clamp1, w, b2) },
        // SAFETY: Avx2Fma is only ever made by Isa::best on a CPU with AVX2 and FMA.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma => unsafe { x86_64::expand_depthwise(g, x, cin, pw, b1, clamp1, w, b2) },
    })
}

/// `out[b, o] += x[b, :] · w[o, :]` for rows of length `k` (small FULLY_CONNECTED batches,
/// where a GEMM would repack all the weights for a handful of rows).
pub fn gemv(isa: Isa, x: &[f32], w: &[f32], k: usize, out: &mut [f32]) -> KResult<()> {
    if k == 0 || x.len() % k != 0 || w.len() % k != 0 || out.len() != x.len() / k * (w.len() / k) {
        return Err("matrix operand smaller than its shape".into());
    }
    match isa {
        Isa::Portable => generic::gemv::<false>(x, w, k, out),
        // SAFETY: Avx2Fma is only ever made by Isa::best on a CPU with AVX2 and FMA.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma => unsafe { x86_64::gemv(x, w, k, out) },
    }
    Ok(())
}

#[cfg(test)]
mod tests;
