//! Signal processing: RFFT2D (by FFT, in f64 as the runtime computes it), and the complex
//! ops that read its output: COMPLEX_ABS, REAL and IMAG.

use super::util::{checked_numel, inp, ints};
use super::{KResult, OpDef, Prepared};
use crate::ir::{Buf, Value, Values};
use crate::schema::BuiltinOperator as B;
use realfft::num_complex::Complex;
use realfft::RealFftPlanner;
use rustfft::FftPlanner;
use std::sync::Arc;

pub(super) fn register(add: &mut dyn FnMut(OpDef)) {
    add(OpDef::builtin(B::RFFT2D).kernel(|ctx| {
        // Plan once when the FFT lengths are a constant (TF always writes them so).
        let planned = match ctx.constant(1) {
            Some(super::Constant::Value(v)) => Some(Arc::new(Rfft2d::plan(&ints(v)?)?)),
            _ => None,
        };
        Ok(Prepared::one(move |ins| match &planned {
            Some(p) => p.run(inp(ins, 0)?),
            None => Rfft2d::plan(&ints(inp(ins, 1)?)?)?.run(inp(ins, 0)?),
        }))
    }));
    add(OpDef::builtin(B::COMPLEX_ABS)
        .kernel(|_| Ok(Prepared::one(|ins| complex_part(inp(ins, 0)?, |c| c[0].hypot(c[1]))))));
    add(OpDef::builtin(B::REAL).kernel(|_| Ok(Prepared::one(|ins| complex_part(inp(ins, 0)?, |c| c[0])))));
    add(OpDef::builtin(B::IMAG).kernel(|_| Ok(Prepared::one(|ins| complex_part(inp(ins, 0)?, |c| c[1])))));
}

/// A float function of each complex element.
fn complex_part(v: &Value, f: fn([f32; 2]) -> f32) -> KResult<Value> {
    match &v.values {
        Values::C64(x) => Ok(Value::f32(v.shape.clone(), x.iter().map(|&c| f(c)).collect::<Buf<f32>>())),
        // REAL of a real tensor is itself; the runtime takes only complex input, so do we.
        other => Err(format!("expected a COMPLEX64 tensor, got {}", other.type_name())),
    }
}

/// The 2-D real FFT of the last two axes, cropped or zero-padded to (height, width); the
/// output keeps width/2 + 1 columns.
struct Rfft2d {
    height: usize,
    width: usize,
    rows: Arc<dyn realfft::RealToComplex<f64>>,
    cols: Arc<dyn rustfft::Fft<f64>>,
}

impl Rfft2d {
    fn plan(lengths: &[i64]) -> KResult<Rfft2d> {
        let [h, w] = lengths[..] else {
            return Err(format!("RFFT2D needs two FFT lengths, got {lengths:?}"));
        };
        let (height, width) = match (usize::try_from(h), usize::try_from(w)) {
            (Ok(h), Ok(w)) if h > 0 && w > 0 && h <= 1 << 20 && w <= 1 << 20 => (h, w),
            _ => return Err(format!("bad RFFT2D lengths {lengths:?}")),
        };
        checked_numel(&[height, width])?;
        let rows = RealFftPlanner::<f64>::new().plan_fft_forward(width);
        let cols = FftPlanner::<f64>::new().plan_fft_forward(height);
        Ok(Rfft2d { height, width, rows, cols })
    }

    fn run(&self, v: &Value) -> KResult<Value> {
        let Values::F32(x) = &v.values else {
            return Err(format!("RFFT2D needs FLOAT32 input, got {}", v.values.type_name()));
        };
        let r = v.shape.len();
        if r < 2 || x.len() != v.numel() {
            return Err(format!("RFFT2D needs an input of rank 2 or more, got {:?}", v.shape));
        }
        let (ih, iw) = (v.shape[r - 2], v.shape[r - 1]);
        let (h, w, wc) = (self.height, self.width, self.width / 2 + 1);
        let mut shape = v.shape.clone();
        shape[r - 2] = h;
        shape[r - 1] = wc;
        let n = checked_numel(&shape)?;
        let slices = v.shape[..r - 2].iter().product::<usize>();
        let mut out: Buf<[f32; 2]> = Buf::with_capacity(n);
        let mut row_in = self.rows.make_input_vec();
        let mut row_out = self.rows.make_output_vec();
        let mut scratch = self.rows.make_scratch_vec();
        let mut grid = vec![Complex::new(0.0, 0.0); h * wc];
        let mut col = vec![Complex::new(0.0, 0.0); h];
        let mut col_scratch = vec![Complex::new(0.0, 0.0); self.cols.get_inplace_scratch_len()];
        for s in 0..slices {
            let src = &x[s * ih * iw..(s + 1) * ih * iw];
            for y in 0..h {
                row_in.iter_mut().for_each(|a| *a = 0.0);
                if y < ih {
                    for (d, &a) in row_in.iter_mut().zip(&src[y * iw..y * iw + iw.min(w)]) {
                        *d = f64::from(a);
                    }
                }
                self.rows
                    .process_with_scratch(&mut row_in, &mut row_out, &mut scratch)
                    .map_err(|e| format!("RFFT2D: {e}"))?;
                grid[y * wc..(y + 1) * wc].copy_from_slice(&row_out);
            }
            for c in 0..wc {
                for y in 0..h {
                    col[y] = grid[y * wc + c];
                }
                self.cols.process_with_scratch(&mut col, &mut col_scratch);
                for y in 0..h {
                    grid[y * wc + c] = col[y];
                }
            }
            out.extend(grid.iter().map(|z| [z.re as f32, z.im as f32]));
        }
        Ok(Value::new(shape, Values::C64(out)))
    }
}
