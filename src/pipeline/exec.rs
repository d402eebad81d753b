//! What `run` and `compare` share: samples turned into interpreter inputs, integer values
//! dequantized, and `.npz` writing.

use crate::calibrate::data::{self, ImageOptions, InputSpec, SampleSet, SampleType};
use crate::calibrate::{self, CalibrateError};
use crate::interp::{InterpError, Value, Values};
use crate::ir::{Model, QuantParams, Tensor};
use crate::schema::TensorType;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why `run` or `compare` failed. Every message is one line.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("{}", .0.to_string().replacen("calibration data", "input data", 1))]
    Data(data::DataError),
    #[error("{}", .0.to_string().replacen("calibration data", "input data", 1).replacen("calibration: ", "", 1))]
    Inputs(CalibrateError),
    #[error("{0}")]
    Interp(#[from] InterpError),
    #[error("sample {index}: {source}")]
    Sample { index: usize, source: InterpError },
    #[error("{0}")]
    Mismatch(String),
    #[error("{0}")]
    Output(String),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

// The two above reword their inner message, so they do not also expose it as their source
// (the CLI would print it twice).
impl From<data::DataError> for ExecError {
    fn from(e: data::DataError) -> Self {
        ExecError::Data(e)
    }
}

impl From<CalibrateError> for ExecError {
    fn from(e: CalibrateError) -> Self {
        ExecError::Inputs(e)
    }
}

/// Opens the samples in `paths` for `model`'s main subgraph inputs (the formats calibration
/// takes: .npy with a sample axis, .npz by input name, image folders).
pub fn open(model: &Model, paths: &[PathBuf], image: &ImageOptions) -> Result<SampleSet, ExecError> {
    if paths.is_empty() {
        return Err(ExecError::Mismatch("no input data given: a .npy, a .npz or a folder of images".into()));
    }
    let sg = model.subgraphs.first().ok_or_else(|| ExecError::Mismatch("the model has no subgraph".into()))?;
    // Quantized integer inputs take float data (quantized with their scale and zero point),
    // or integers of their own type as they are.
    let specs = if sg.inputs.iter().any(|&t| quantized(&sg.tensors[t as usize]).is_some()) {
        sg.inputs
            .iter()
            .map(|&t| {
                let t = &sg.tensors[t as usize];
                if quantized(t).is_none() {
                    return Ok(calibrate::input_specs(&one_input(t), None)?.remove(0));
                }
                let shape = t.shape();
                let sig = t.shape_signature.as_deref().filter(|s| s.len() == shape.len()).unwrap_or(shape);
                let dims = sig.iter().zip(shape).map(|(&s, &d)| usize::try_from(s.min(d)).ok()).collect();
                let raw = match t.dtype {
                    TensorType::INT8 => SampleType::I8,
                    TensorType::UINT8 => SampleType::U8,
                    TensorType::INT16 => SampleType::I16,
                    _ => SampleType::I32,
                };
                Ok(InputSpec { name: t.name().into(), shape: dims, dtype: SampleType::F32, raw: Some(raw) })
            })
            .collect::<Result<Vec<_>, ExecError>>()?
    } else {
        calibrate::input_specs(model, None)?
    };
    Ok(data::open_samples(paths, &specs, None, image)?)
}

/// A model of one input tensor `t` (for its data spec).
fn one_input(t: &Tensor) -> Model {
    let sg = crate::ir::Subgraph { tensors: vec![t.clone()], inputs: vec![0], ..Default::default() };
    Model { subgraphs: vec![sg], ..Default::default() }
}

/// Sample `i` as interpreter inputs for `model` (the interpreter quantizes float data given
/// to a quantized integer input, as LiteRT's QUANTIZE would).
pub fn inputs(samples: &SampleSet, i: usize) -> Result<Vec<Value>, ExecError> {
    Ok(samples.get(i)?.inputs.into_iter().map(|(shape, values)| Value { shape, values }).collect())
}

/// The integer range of a quantized type.
pub fn int_range(t: TensorType) -> Option<(i64, i64)> {
    Some(match t {
        TensorType::INT8 => (-128, 127),
        TensorType::UINT8 => (0, 255),
        TensorType::INT16 => (-32768, 32767),
        TensorType::INT32 => (i32::MIN as i64, i32::MAX as i64),
        _ => return None,
    })
}

/// The quantization a tensor's values carry: None for float tensors and for integers without a scale.
pub fn quantized(t: &Tensor) -> Option<&QuantParams> {
    t.quantization.as_ref().filter(|q| int_range(t.dtype).is_some() && q.scales().first().is_some_and(|&s| s != 0.0))
}

/// For element `i` of a tensor of `shape`, the index of its channel along `q`'s quantized
/// dimension (0 for per-tensor parameters).
fn channel(q: &QuantParams, shape: &[usize], i: usize) -> usize {
    let n = q.scales().len();
    if n <= 1 {
        return 0;
    }
    let axis = q.quantized_dimension.max(0) as usize;
    let inner: usize = shape.iter().skip(axis + 1).product();
    (i / inner.max(1)) % n
}

/// The (scale, zero point) of element `i`.
pub fn params_at(q: &QuantParams, shape: &[usize], i: usize) -> (f32, i64) {
    let c = channel(q, shape, i);
    let s = q.scales().get(c).or(q.scales().first()).copied().unwrap_or(1.0);
    let zp = q.zero_points().get(c).or(q.zero_points().first()).copied().unwrap_or(0);
    (s, zp)
}

/// A value as float32: float as is, quantized integers dequantized with `t`'s parameters,
/// other numbers cast. None for complex values.
pub fn to_f32(t: &Tensor, v: &Value) -> Option<Vec<f32>> {
    let ints: Vec<i64> = match &v.values {
        Values::F32(x) => return Some(x.to_vec()),
        Values::I8(x) => x.iter().map(|&a| i64::from(a)).collect(),
        Values::I16(x) => x.iter().map(|&a| i64::from(a)).collect(),
        Values::U8(x) => x.iter().map(|&a| i64::from(a)).collect(),
        Values::I32(x) => x.iter().map(|&a| i64::from(a)).collect(),
        Values::I64(x) => x.to_vec(),
        Values::Bool(x) => x.iter().map(|&a| i64::from(a)).collect(),
        Values::C64(_) => return None,
    };
    Some(match quantized(t) {
        Some(q) => ints
            .iter()
            .enumerate()
            .map(|(i, &a)| {
                let (s, zp) = params_at(q, &v.shape, i);
                ((a - zp) as f64 * f64::from(s)) as f32
            })
            .collect(),
        None => ints.iter().map(|&a| a as f32).collect(),
    })
}

/// One array of an `.npz`: NumPy dtype descr, shape, little-endian bytes.
pub struct NpyOut {
    pub name: String,
    pub descr: &'static str,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

fn npy_bytes(a: &NpyOut) -> Vec<u8> {
    let dims: Vec<String> = a.shape.iter().map(|d| d.to_string()).collect();
    let shape = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut h = format!("{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}", a.descr).into_bytes();
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(b' ');
    }
    h.push(b'\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(h.len() as u16).to_le_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(&a.data);
    out
}

/// Writes `arrays` as an uncompressed `.npz` at `path`, whole or not at all.
pub fn write_npz(path: &Path, arrays: &[NpyOut]) -> Result<(), ExecError> {
    write_atomically(path, |file| {
        let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(file));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(true);
        for a in arrays {
            zip.start_file(format!("{}.npy", a.name), opts).map_err(std::io::Error::other)?;
            zip.write_all(&npy_bytes(a))?;
        }
        let mut w = zip.finish().map_err(std::io::Error::other)?;
        w.flush()?;
        w.get_ref().sync_all()
    })
}

/// Writes `bytes` to `path`, whole or not at all.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ExecError> {
    write_atomically(path, |mut file| file.write_all(bytes))
}

/// Runs `write` on a temporary file beside `path`, then renames it over `path`; on any
/// failure the temporary file is removed and `path` is untouched.
fn write_atomically(path: &Path, write: impl FnOnce(&std::fs::File) -> std::io::Result<()>) -> Result<(), ExecError> {
    // Staged like every output, so a signal handler removes it too.
    let staged = crate::tflite::Staged::create(path).and_then(|(st, f)| write(&f).map(|()| st));
    staged.and_then(|st| st.commit()).map_err(|source| ExecError::Write { path: path.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int8(scale: Vec<f32>, zero_point: Vec<i64>, axis: i32) -> Tensor {
        let q = QuantParams {
            scale: Some(scale),
            zero_point: Some(zero_point),
            quantized_dimension: axis,
            ..Default::default()
        };
        Tensor { dtype: TensorType::INT8, quantization: Some(q), shape: Some(vec![2, 2]), ..Default::default() }
    }

    #[test]
    fn integers_are_dequantized_per_tensor_and_per_channel() {
        let t = int8(vec![0.5], vec![-1], 0);
        let v = Value { shape: vec![2, 2], values: Values::I8(vec![-1i8, 0, 1, 127].into()) };
        assert_eq!(to_f32(&t, &v).unwrap(), [0.0, 0.5, 1.0, 64.0]);
        // Per channel along axis 1: columns have scales 1 and 0.25.
        let t = int8(vec![1.0, 0.25], vec![0, 0], 1);
        let v = Value { shape: vec![2, 2], values: Values::I8(vec![4i8, 4, -4, -4].into()) };
        assert_eq!(to_f32(&t, &v).unwrap(), [4.0, 1.0, -4.0, -1.0]);
        // An integer without quantization is cast.
        let plain = Tensor { dtype: TensorType::INT32, ..Default::default() };
        let v = Value { shape: vec![2], values: Values::I32(vec![3, -7].into()) };
        assert_eq!(to_f32(&plain, &v).unwrap(), [3.0, -7.0]);
    }

    #[test]
    fn float_data_for_an_integer_input_is_quantized_and_clamped() {
        let t = Tensor { shape: Some(vec![4]), ..int8(vec![0.5], vec![10], 0) };
        let v = crate::ops::quantize_to(&t, &Value::f32(vec![4], vec![0.0, 1.0, -1000.0, 1000.0])).unwrap();
        let Values::I8(q) = v.values else { panic!() };
        assert_eq!(&q[..], [10, 12, -128, 127]);
    }

    #[test]
    fn npz_is_written_whole_and_readable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.npz");
        let a = NpyOut {
            name: "a:0".into(),
            descr: "<f4",
            shape: vec![2],
            data: [1f32, 2.0].iter().flat_map(|x| x.to_le_bytes()).collect(),
        };
        write_npz(&path, &[a]).unwrap();
        let mut zip = zip::ZipArchive::new(std::fs::File::open(&path).unwrap()).unwrap();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut zip.by_name("a:0.npy").unwrap(), &mut bytes).unwrap();
        assert!(bytes.starts_with(b"\x93NUMPY\x01\x00"));
        assert_eq!((bytes.len() - 8) % 8, 0, "header padded so that data is aligned");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
    }
}
