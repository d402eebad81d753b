//! `tflq run`: every sample through a model, the outputs stacked along a sample axis.
//!
//! Outputs are written as float32: a quantized integer output (INT8/UINT8/INT16 with a
//! scale) is dequantized with its scale and zero point, so that files from a float model and
//! from its quantized versions compare directly. Integer outputs without quantization (indices,
//! counts) keep their integer type (int32/int64/uint8/int8/bool).

use super::exec::{self, ExecError, NpyOut};
use crate::calibrate::data::SampleSet;
use crate::interp::{Interpreter, Value, Values};
use crate::ir::Model;
use rayon::prelude::*;

/// One output over every sample.
pub struct Output {
    pub name: String,
    /// Sample axis first: `[samples, ...]`, where a leading batch dimension of 1 is replaced by
    /// the sample axis (a model output `[1,10]` over 80 samples gives `[80,10]`).
    pub shape: Vec<usize>,
    /// Its elements, sample after sample (never complex).
    pub values: Values,
    /// The tensor's (scale, zero point) when it was dequantized.
    pub dequantized: Option<(f32, i64)>,
}

impl Output {
    /// (min, max, mean) over every element, as f64 (NaN ignored; None when there is none).
    pub fn stats(&self) -> Option<(f64, f64, f64)> {
        let it: Box<dyn Iterator<Item = f64>> = match &self.values {
            Values::F32(v) => Box::new(v.iter().map(|&x| f64::from(x))),
            Values::I32(v) => Box::new(v.iter().map(|&x| f64::from(x))),
            Values::I64(v) => Box::new(v.iter().map(|&x| x as f64)),
            Values::U8(v) => Box::new(v.iter().map(|&x| f64::from(x))),
            Values::I8(v) => Box::new(v.iter().map(|&x| f64::from(x))),
            Values::I16(v) => Box::new(v.iter().map(|&x| f64::from(x))),
            Values::Bool(v) => Box::new(v.iter().map(|&x| f64::from(u8::from(x)))),
            Values::C64(_) => Box::new(std::iter::empty()),
        };
        let (mut lo, mut hi, mut sum, mut n) = (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0usize);
        for x in it.filter(|x| !x.is_nan()) {
            lo = lo.min(x);
            hi = hi.max(x);
            sum += x;
            n += 1;
        }
        (n > 0).then(|| (lo, hi, sum / n as f64))
    }

    /// The NumPy dtype name.
    pub fn dtype(&self) -> &'static str {
        match self.values {
            Values::F32(_) => "float32",
            Values::I32(_) => "int32",
            Values::I64(_) => "int64",
            Values::U8(_) => "uint8",
            Values::I8(_) => "int8",
            Values::I16(_) => "int16",
            Values::Bool(_) => "bool",
            Values::C64(_) => "complex64",
        }
    }

    /// As an `.npz` member.
    pub fn to_npy(&self) -> NpyOut {
        let (descr, data): (&'static str, Vec<u8>) = match &self.values {
            Values::F32(v) => ("<f4", v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            Values::I32(v) => ("<i4", v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            Values::I64(v) => ("<i8", v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            Values::U8(v) => ("|u1", v.to_vec()),
            Values::I8(v) => ("|i1", v.iter().map(|&x| x as u8).collect()),
            Values::I16(v) => ("<i2", v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            Values::Bool(v) => ("|b1", v.iter().map(|&x| u8::from(x)).collect()),
            Values::C64(v) => ("<c8", v.iter().flatten().flat_map(|x| x.to_le_bytes()).collect()),
        };
        NpyOut { name: self.name.clone(), descr, shape: self.shape.clone(), data }
    }
}

/// Runs `model` on every sample (in parallel) and returns the outputs in the order of the
/// main subgraph's outputs.
pub fn run(model: &Model, samples: &SampleSet) -> Result<Vec<Output>, ExecError> {
    let interp = Interpreter::new(model, 0)?;
    let results: Vec<Vec<Value>> = (0..samples.len())
        .into_par_iter()
        .map(|index| interp.run(exec::inputs(samples, index)?).map_err(|source| ExecError::Sample { index, source }))
        .collect::<Result<_, _>>()?;
    let sg = &model.subgraphs[0];
    let mut outputs = Vec::new();
    for (k, &t) in sg.outputs.iter().enumerate() {
        let tensor = &sg.tensors[t as usize];
        let name = tensor.name().to_string();
        let per: Vec<&Value> = results.iter().map(|r| &r[k]).collect();
        let first = per.first().map(|v| v.shape.clone()).unwrap_or_default();
        if let Some(v) = per.iter().find(|v| v.shape != first) {
            return Err(ExecError::Output(format!(
                "output \"{name}\" has shape {:?} for one sample and {:?} for another: outputs of different shapes cannot be stacked",
                first, v.shape
            )));
        }
        let mut shape = vec![per.len()];
        shape.extend(if first.first() == Some(&1) { &first[1..] } else { &first[..] });
        let quant = exec::quantized(tensor);
        let values = if quant.is_some() {
            let mut all = Vec::new();
            for v in &per {
                all.extend(exec::to_f32(tensor, v).unwrap_or_default());
            }
            Values::F32(all.into())
        } else {
            stack(&name, &per)?
        };
        let dequantized = quant.map(|q| exec::params_at(q, &first, 0));
        outputs.push(Output { name, shape, values, dequantized });
    }
    Ok(outputs)
}

fn stack(name: &str, per: &[&Value]) -> Result<Values, ExecError> {
    macro_rules! cat {
        ($variant:ident) => {{
            let mut all = crate::ir::Buf::new();
            for v in per {
                match &v.values {
                    Values::$variant(x) => all.extend_from_slice(x),
                    _ => return Err(ExecError::Output(format!("output \"{name}\" changes type between samples"))),
                }
            }
            Values::$variant(all)
        }};
    }
    Ok(match per.first().map(|v| &v.values) {
        None | Some(Values::F32(_)) => cat!(F32),
        Some(Values::I32(_)) => cat!(I32),
        Some(Values::I64(_)) => cat!(I64),
        Some(Values::U8(_)) => cat!(U8),
        Some(Values::I8(_)) => cat!(I8),
        Some(Values::I16(_)) => cat!(I16),
        Some(Values::Bool(_)) => cat!(Bool),
        Some(Values::C64(_)) => {
            return Err(ExecError::Output(format!("output \"{name}\" is complex64, which tflq run cannot write yet")))
        }
    })
}
