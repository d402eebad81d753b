//! Calibration samples from user files (`--calibration-data`).
//!
//! Each path is one of:
//! - a `.npy` whose first axis indexes samples, for a model with one input; or, when every path
//!   is a `.npy`, one file per model input in model input order;
//! - a `.npz` with one array per model input, matched by input name (`serving_default_x:0` also
//!   matches the key `x`);
//! - a folder of PNG/JPEG images, for a model with one float input of shape `[1,H,W,C]`, C = 1 or 3.
//!
//! Several `.npz` files or folders are read in the order given and their samples concatenated.
//! Files inside a folder are taken in byte order of their names, so the result is deterministic.

use std::fmt;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::npy::{self, NpyData, NpyError};
use crate::ir::{codec, Buf};
use crate::schema::TensorType;
use rayon::prelude::*;

/// Element type of a model input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SampleType {
    F32,
    I32,
    I64,
    U8,
    I8,
    I16,
    Bool,
    /// COMPLEX64 (no calibration file format holds it yet).
    C64,
}

impl SampleType {
    /// The NumPy name, as users see it in their arrays.
    pub fn name(self) -> &'static str {
        match self {
            SampleType::F32 => "float32",
            SampleType::I32 => "int32",
            SampleType::I64 => "int64",
            SampleType::U8 => "uint8",
            SampleType::I8 => "int8",
            SampleType::I16 => "int16",
            SampleType::Bool => "bool",
            SampleType::C64 => "complex64",
        }
    }
}

impl fmt::Display for SampleType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One model input, as calibration data must fill it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputSpec {
    pub name: String,
    /// The shapes it takes, batch dimension included (usually 1): None where the model's shape
    /// signature leaves the dimension open (-1), so that each sample brings its own.
    pub shape: Vec<Option<usize>>,
    pub dtype: SampleType,
    /// A quantized integer input that takes float data (`run`, `compare`) also takes arrays of
    /// its own integer type, used as they are.
    pub raw: Option<SampleType>,
}

impl InputSpec {
    /// An input of one fixed shape.
    pub fn fixed(name: &str, shape: &[usize], dtype: SampleType) -> InputSpec {
        InputSpec { name: name.into(), shape: shape.iter().map(|&d| Some(d)).collect(), dtype, raw: None }
    }

    /// Whether a sample of `shape` fits.
    pub fn accepts(&self, shape: &[usize]) -> bool {
        shape.len() == self.shape.len() && shape.iter().zip(&self.shape).all(|(&g, d)| d.map_or(true, |d| d == g))
    }

    /// Whether a sample may leave out the batch dimension (it is 1, or open: a sample without
    /// it is one item).
    fn batch_optional(&self) -> bool {
        matches!(self.shape.first(), Some(Some(1)) | Some(None))
    }
}

/// The elements of one input of one sample, in row-major order: the interpreter's own value type.
pub use crate::ir::Values as SampleValues;

impl SampleType {
    /// The type of a sample's values.
    pub fn of(v: &SampleValues) -> SampleType {
        match v {
            SampleValues::F32(_) => SampleType::F32,
            SampleValues::I32(_) => SampleType::I32,
            SampleValues::I64(_) => SampleType::I64,
            SampleValues::U8(_) => SampleType::U8,
            SampleValues::I8(_) => SampleType::I8,
            SampleValues::I16(_) => SampleType::I16,
            SampleValues::Bool(_) => SampleType::Bool,
            SampleValues::C64(_) => SampleType::C64,
        }
    }

    fn no_values(self) -> SampleValues {
        match self {
            SampleType::F32 => SampleValues::F32(Buf::new()),
            SampleType::I32 => SampleValues::I32(Buf::new()),
            SampleType::I64 => SampleValues::I64(Buf::new()),
            SampleType::U8 => SampleValues::U8(Buf::new()),
            SampleType::I8 => SampleValues::I8(Buf::new()),
            SampleType::I16 => SampleValues::I16(Buf::new()),
            SampleType::Bool => SampleValues::Bool(Buf::new()),
            SampleType::C64 => SampleValues::C64(Buf::new()),
        }
    }
}

/// One calibration sample: one `(shape, values)` per model input, in model input order.
/// The shape is always the model input's full shape (batch dimension included).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub inputs: Vec<(Vec<usize>, SampleValues)>,
}

/// The bytes an array lies in: a mapped file, or a member inflated from a `.npz`.
enum Src {
    Map(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl std::ops::Deref for Src {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Src::Map(m) => m,
            Src::Owned(v) => v,
        }
    }
}

/// One input of one sample, checked but perhaps not decoded yet.
enum Pending {
    Ready(SampleValues),
    /// `count` float32 or float64 elements at byte `start` of `src`, becoming float32 values.
    Floats {
        src: std::sync::Arc<Src>,
        start: usize,
        count: usize,
        dtype: npy::DType,
    },
}

impl Pending {
    fn decode(&self) -> SampleValues {
        match self {
            Pending::Ready(v) => v.clone(),
            Pending::Floats { src, start, count, dtype } => {
                let bytes = &src[*start..*start + count * dtype.size()];
                // Straight into the interpreter's (line-aligned) buffer.
                let t = if *dtype == npy::DType::F64 { TensorType::FLOAT64 } else { TensorType::FLOAT32 };
                SampleValues::F32(codec::decode_f32(t, bytes).unwrap_or_default())
            }
        }
    }

    /// Like [`decode`](Self::decode), without copying values that are already decoded.
    fn into_values(self) -> SampleValues {
        match self {
            Pending::Ready(v) => v,
            floats => floats.decode(),
        }
    }
}

/// Calibration data checked against the model's inputs (shapes, types, counts, archive CRCs),
/// whose float arrays are decoded one sample at a time when the calibrator asks for it: no
/// copy of the whole file is made, and each sample's values are fresh in cache when used.
pub struct SampleSet {
    samples: Vec<Vec<(Vec<usize>, Pending)>>,
}

impl SampleSet {
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// For each input, the distinct shapes its samples have, in first-seen order.
    pub fn shapes(&self) -> Vec<Vec<Vec<usize>>> {
        let n = self.samples.first().map_or(0, Vec::len);
        let mut out = vec![Vec::new(); n];
        for s in &self.samples {
            for (k, (shape, _)) in s.iter().enumerate() {
                if !out[k].contains(shape) {
                    out[k].push(shape.clone());
                }
            }
        }
        out
    }

    /// Sample `i` (panics if `i >= len()`).
    pub fn get(&self, i: usize) -> Sample {
        Sample { inputs: self.samples[i].iter().map(|(shape, p)| (shape.clone(), p.decode())).collect() }
    }
}

impl From<Vec<Sample>> for SampleSet {
    fn from(samples: Vec<Sample>) -> SampleSet {
        let samples = samples
            .into_iter()
            .map(|s| s.inputs.into_iter().map(|(shape, v)| (shape, Pending::Ready(v))).collect())
            .collect();
        SampleSet { samples }
    }
}

/// Normalization for image folders: each channel becomes `(x/255 - mean[c]) / std[c]`.
/// A missing `mean` is 0 and a missing `std` is 1; a one-element list applies to every channel.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageOptions {
    pub mean: Option<Vec<f32>>,
    pub std: Option<Vec<f32>>,
}

/// Shape as users write it: `[1,32,32,3]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeList(pub Vec<usize>);

/// A shape with open dimensions, shown as a shape signature: `[1,-1,-1,3]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dims(pub Vec<Option<usize>>);

impl fmt::Display for Dims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match d {
                Some(d) => write!(f, "{d}")?,
                None => f.write_str("-1")?,
            }
        }
        f.write_str("]")
    }
}

impl fmt::Display for ShapeList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}

/// Why calibration data could not be loaded. Every message is one line and starts with
/// `calibration data`.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("calibration data {}: cannot read: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("calibration data {}: {kind}, not a file or folder", path.display())]
    NotAFile { path: PathBuf, kind: &'static str },
    #[error("calibration data {}: not a .npy, .npz or folder of images", path.display())]
    UnknownKind { path: PathBuf },
    #[error("calibration data {}: {reason}", path.display())]
    MalformedNpy { path: PathBuf, reason: NpyError },
    #[error("calibration data {}: unsupported .npy dtype {dtype}; use float32/float64, int8/16/32/64, uint8/16 or bool", path.display())]
    UnsupportedNpyDtype { path: PathBuf, dtype: String },
    #[error("calibration data {}: fortran-order (column-major) arrays are not supported; save np.ascontiguousarray(a)", path.display())]
    FortranOrder { path: PathBuf },
    #[error("calibration data {}: not a readable .npz archive: {reason}", path.display())]
    MalformedNpz { path: PathBuf, reason: String },
    #[error("calibration data {source_name}: input \"{input}\" expects samples of shape {expected} (model input {model}), found array {found}")]
    WrongShape { source_name: String, input: String, expected: Dims, model: String, found: ShapeList },
    #[error("calibration data {source_name}: input \"{input}\" is {expected} but the array is {found}{hint}")]
    WrongDtype { source_name: String, input: String, expected: SampleType, found: String, hint: &'static str },
    #[error(
        "calibration data {source_name}: input \"{input}\" is {expected} but element {index} is {value}, out of range"
    )]
    OutOfRange { source_name: String, input: String, expected: SampleType, index: usize, value: String },
    #[error("calibration data: {given} given but the model has {} input{}: {}; {hint}", names.len(), if names.len() == 1 { "" } else { "s" }, names.join(", "))]
    InputCount { given: String, names: Vec<String>, hint: &'static str },
    #[error("calibration data: cannot mix .npy files with {} (a .npy holds one input; a .npz or folder holds whole samples)", other.display())]
    MixedKinds { other: PathBuf },
    #[error("calibration data {}: no array for input \"{input}\"; expected keys {}; found {}", path.display(), expected.join(", "), if found.is_empty() { "no arrays".to_string() } else { found.join(", ") })]
    MissingNpzKey { path: PathBuf, input: String, expected: Vec<String>, found: Vec<String> },
    #[error("calibration data {}: folder has no .png/.jpg/.jpeg files", path.display())]
    EmptyFolder { path: PathBuf },
    #[error("calibration data {}: image folders need a model with one float32 input of shape [1,H,W,C], C = 1 or 3; input \"{input}\" is {dtype} {shape}", path.display())]
    NotImageInput { path: PathBuf, input: String, shape: Dims, dtype: SampleType },
    #[error("calibration data {}: cannot decode image: {reason}", path.display())]
    BadImage { path: PathBuf, reason: String },
    #[error("calibration data: --{which} needs 1 or {channels} values (one per channel), got {got}")]
    BadNormalization { which: &'static str, channels: usize, got: usize },
    #[error("calibration data: --std values must be finite and non-zero, got {0}")]
    ZeroStd(f32),
    #[error("calibration data {what}: no samples")]
    NoSamples { what: String },
    #[error("calibration data: inputs have different sample counts: {}", counts.iter().map(|(n, c)| format!("\"{n}\" {c}")).collect::<Vec<_>>().join(", "))]
    SampleCountMismatch { counts: Vec<(String, usize)> },
}

/// Loads calibration samples from `paths` for a model whose inputs are `inputs`.
/// `max_samples` caps the number returned (the first ones, in file order).
pub fn load_samples(
    paths: &[PathBuf],
    inputs: &[InputSpec],
    max_samples: Option<usize>,
    image: &ImageOptions,
) -> Result<Vec<Sample>, DataError> {
    let set = open_samples(paths, inputs, max_samples, image)?;
    Ok(set
        .samples
        .into_iter()
        .map(|s| Sample { inputs: s.into_iter().map(|(shape, p)| (shape, p.into_values())).collect() })
        .collect())
}

/// Like [`load_samples`], with every check done now but float arrays decoded only as each
/// sample is taken from the set.
pub fn open_samples(
    paths: &[PathBuf],
    inputs: &[InputSpec],
    max_samples: Option<usize>,
    image: &ImageOptions,
) -> Result<SampleSet, DataError> {
    let mut kinds = Vec::with_capacity(paths.len());
    for path in paths {
        kinds.push((path, kind_of(path)?));
    }
    let what = || paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
    if kinds.is_empty() {
        return Err(DataError::NoSamples { what: "(no paths given)".into() });
    }
    let input_names = || inputs.iter().map(|s| s.name.clone()).collect::<Vec<_>>();

    let samples = if kinds.iter().any(|(_, k)| *k == Kind::Npy) {
        if let Some((other, _)) = kinds.iter().find(|(_, k)| *k != Kind::Npy) {
            return Err(DataError::MixedKinds { other: other.to_path_buf() });
        }
        if kinds.len() != inputs.len() {
            let given = match kinds.len() {
                1 => ".npy".to_string(),
                n => format!("{n} .npy files"),
            };
            let hint = if inputs.len() > 1 {
                "use a .npz with those names or one .npy per input"
            } else {
                "give one .npy whose first axis indexes samples"
            };
            return Err(DataError::InputCount { given, names: input_names(), hint });
        }
        let mut columns = Vec::with_capacity(inputs.len());
        for ((path, _), spec) in kinds.iter().zip(inputs) {
            let src = std::sync::Arc::new(Src::Map(map(path)?));
            columns.push(split_samples(&src, 0..src.len(), spec, path, &path.display().to_string(), max_samples)?);
        }
        zip_columns(columns, inputs)?
    } else {
        let mut all = Vec::new();
        for (path, kind) in &kinds {
            let left = max_samples.map(|m| m.saturating_sub(all.len()));
            if left == Some(0) {
                break;
            }
            let mut got = match kind {
                Kind::Npz => load_npz(path, inputs, left)?,
                Kind::Folder => load_folder(path, inputs, left, image)?,
                Kind::Npy => unreachable!("handled above"),
            };
            all.append(&mut got);
        }
        all
    };
    if samples.is_empty() {
        return Err(DataError::NoSamples { what: what() });
    }
    Ok(SampleSet { samples })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Npy,
    Npz,
    Folder,
}

/// Tells the kind of a path by extension, then by magic bytes for other names.
fn kind_of(path: &Path) -> Result<Kind, DataError> {
    let meta = fs::metadata(path).map_err(|source| DataError::Unreadable { path: path.to_path_buf(), source })?;
    if let Some(kind) = crate::ir::special_file(path) {
        return Err(DataError::NotAFile { path: path.to_path_buf(), kind });
    }
    if meta.is_dir() {
        return Ok(Kind::Folder);
    }
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("npy") => return Ok(Kind::Npy),
        Some("npz") => return Ok(Kind::Npz),
        _ => {}
    }
    let mut head = [0u8; 6];
    let n = fs::File::open(path)
        .and_then(|mut f| read_up_to(&mut f, &mut head))
        .map_err(|source| DataError::Unreadable { path: path.to_path_buf(), source })?;
    if &head[..n] == npy::MAGIC {
        Ok(Kind::Npy)
    } else if head[..n].starts_with(b"PK\x03\x04") {
        Ok(Kind::Npz)
    } else {
        Err(DataError::UnknownKind { path: path.to_path_buf() })
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn npy_error(path: &Path, err: NpyError) -> DataError {
    let path = path.to_path_buf();
    match err {
        NpyError::UnsupportedDtype(dtype) => DataError::UnsupportedNpyDtype { path, dtype },
        NpyError::FortranOrder => DataError::FortranOrder { path },
        reason => DataError::MalformedNpy { path, reason },
    }
}

/// Maps a data file read-only: samples are decoded straight from the page cache, with no
/// intermediate copy of the file.
fn map(path: &Path) -> Result<memmap2::Mmap, DataError> {
    let unreadable = |source| DataError::Unreadable { path: path.to_path_buf(), source };
    let file = fs::File::open(path).map_err(unreadable)?;
    // SAFETY: read-only map; like the model, a data file must not change while tflq reads it.
    unsafe { memmap2::Mmap::map(&file) }.map_err(unreadable)
}

/// `serving_default_x:0` → `x`.
fn normalize_name(name: &str) -> &str {
    let name = name.strip_prefix("serving_default_").unwrap_or(name);
    name.strip_suffix(":0").unwrap_or(name)
}

type PendingSample = Vec<(Vec<usize>, Pending)>;

fn load_npz(path: &Path, inputs: &[InputSpec], max: Option<usize>) -> Result<Vec<PendingSample>, DataError> {
    let malformed = |reason: String| DataError::MalformedNpz { path: path.to_path_buf(), reason };
    let file = std::sync::Arc::new(Src::Map(map(path)?));
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&file[..])).map_err(|e| malformed(e.to_string()))?;
    let mut members: Vec<(String, String)> = archive
        .file_names()
        .filter_map(|m| m.strip_suffix(".npy").map(|key| (key.to_string(), m.to_string())))
        .collect();
    members.sort();
    let keys: Vec<String> = members.iter().map(|(k, _)| k.clone()).collect();
    let mut columns = Vec::with_capacity(inputs.len());
    for spec in inputs {
        let member = members
            .iter()
            .find(|(k, _)| *k == spec.name)
            .or_else(|| members.iter().find(|(k, _)| normalize_name(k) == normalize_name(&spec.name)));
        let Some((key, member)) = member else {
            return Err(DataError::MissingNpzKey {
                path: path.to_path_buf(),
                input: spec.name.clone(),
                expected: inputs.iter().map(|s| normalize_name(&s.name).to_string()).collect(),
                found: keys,
            });
        };
        let (src, range) =
            member_bytes(&file, &mut archive, member).map_err(|e| malformed(format!("{member}: {e}")))?;
        let source_name = format!("{} (array \"{key}\")", path.display());
        columns.push(split_samples(&src, range, spec, &path.join(member), &source_name, max)?);
    }
    zip_columns(columns, inputs)
}

/// Where one archive member's bytes are: a range of the mapped file for a stored (uncompressed)
/// member, as `np.savez` writes them, after checking its CRC; else the inflated bytes.
fn member_bytes(
    file: &std::sync::Arc<Src>,
    archive: &mut zip::ZipArchive<std::io::Cursor<&[u8]>>,
    member: &str,
) -> Result<(std::sync::Arc<Src>, std::ops::Range<usize>), String> {
    let map: &[u8] = file;
    let mut entry = archive.by_name(member).map_err(|e| e.to_string())?;
    if entry.compression() == zip::CompressionMethod::Stored && !entry.encrypted() {
        let range = usize::try_from(entry.data_start())
            .ok()
            .zip(usize::try_from(entry.size()).ok())
            .and_then(|(start, len)| Some(start..start.checked_add(len)?))
            .filter(|r| r.end <= map.len())
            .ok_or("member data lies outside the file")?;
        if crc32(&map[range.clone()]) != entry.crc32() {
            return Err("CRC mismatch: the archive is corrupt".into());
        }
        return Ok((file.clone(), range));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0).min(map.len().saturating_mul(1024)));
    entry.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    let len = bytes.len();
    Ok((std::sync::Arc::new(Src::Owned(bytes)), 0..len))
}

/// CRC-32 of `bytes`, large inputs hashed in parallel halves and combined.
fn crc32(bytes: &[u8]) -> u32 {
    if bytes.len() < 1 << 20 {
        return crc32fast::hash(bytes);
    }
    let (a, b) = bytes.split_at(bytes.len() / 2);
    let hash = |part: &[u8]| {
        let mut h = crc32fast::Hasher::new();
        h.update(part);
        h
    };
    let (mut ha, hb) = rayon::join(|| hash(a), || hash(b));
    ha.combine(&hb);
    ha.finalize()
}

/// The samples of one input, from one array.
struct Column {
    name: String,
    /// Every sample's shape (batch dimension included).
    shape: Vec<usize>,
    total: usize,
    samples: Vec<Pending>,
}

/// Checks the `.npy` in `src[range]` (`path` names it in errors) against `spec` and cuts it into
/// per-sample values (at most `max`): float arrays for float inputs stay pending, anything
/// else is cast now, element by element, so that a bad value is reported before calibrating.
fn split_samples(
    src: &std::sync::Arc<Src>,
    range: std::ops::Range<usize>,
    spec: &InputSpec,
    path: &Path,
    source_name: &str,
    max: Option<usize>,
) -> Result<Column, DataError> {
    let whole = &src[range.clone()];
    let arr = npy::view(whole).map_err(|e| npy_error(path, e))?;
    // Each sample's shape: the array's without its first (sample) axis, with the batch
    // dimension of 1 put back when the samples leave it out.
    let sample_shape = match arr.shape.split_first() {
        Some((_, sample)) if spec.accepts(sample) => Some(sample.to_vec()),
        Some((_, sample)) if spec.batch_optional() && spec.accepts(&[&[1], sample].concat()) => {
            Some([&[1], sample].concat())
        }
        _ => None,
    };
    let Some(sample_shape) = sample_shape else {
        let expected = if spec.batch_optional() { spec.shape[1..].to_vec() } else { spec.shape.clone() };
        return Err(DataError::WrongShape {
            source_name: source_name.to_string(),
            input: spec.name.clone(),
            expected: Dims(expected),
            model: if spec.shape.contains(&None) {
                format!("{}, where -1 is any size", Dims(spec.shape.clone()))
            } else {
                Dims(spec.shape.clone()).to_string()
            },
            found: ShapeList(arr.shape.clone()),
        });
    };
    let total = arr.shape[0];
    let per = npy::element_count(&arr.shape[1..]).unwrap_or(0);
    let take = max.map_or(total, |m| m.min(total));
    if spec.dtype == SampleType::F32 && matches!(arr.dtype, npy::DType::F32 | npy::DType::F64) {
        let body = range.start + (arr.body.as_ptr() as usize - whole.as_ptr() as usize);
        let size = arr.dtype.size();
        let samples = (0..take)
            .map(|i| Pending::Floats { src: src.clone(), start: body + i * per * size, count: per, dtype: arr.dtype })
            .collect();
        return Ok(Column { name: spec.name.clone(), shape: sample_shape, total, samples });
    }
    // Cast sample by sample, in parallel; the first failing sample's error wins.
    let samples: Vec<Result<SampleValues, DataError>> = (0..take)
        .into_par_iter()
        .map(|i| {
            if per == 0 {
                return Ok(spec.dtype.no_values());
            }
            cast(arr.decode(i * per, per), i * per, spec, source_name)
        })
        .collect();
    let samples = samples.into_iter().map(|r| r.map(Pending::Ready)).collect::<Result<Vec<_>, _>>()?;
    Ok(Column { name: spec.name.clone(), shape: sample_shape, total, samples })
}

/// Transposes per-input columns into samples, checking that every input has as many samples.
fn zip_columns(columns: Vec<Column>, inputs: &[InputSpec]) -> Result<Vec<PendingSample>, DataError> {
    if let Some(first) = columns.first() {
        if columns.iter().any(|c| c.total != first.total) {
            return Err(DataError::SampleCountMismatch {
                counts: columns.iter().map(|c| (c.name.clone(), c.total)).collect(),
            });
        }
    }
    debug_assert_eq!(columns.len(), inputs.len());
    let count = columns.first().map_or(0, |c| c.samples.len());
    let mut iters: Vec<_> = columns.into_iter().map(|c| (c.shape, c.samples.into_iter())).collect();
    let mut samples = Vec::with_capacity(count);
    for _ in 0..count {
        let inputs = iters.iter_mut().filter_map(|(shape, it)| it.next().map(|v| (shape.clone(), v)));
        samples.push(inputs.collect());
    }
    Ok(samples)
}

/// Casts `data` (elements from `base` on in their array) to the input's dtype when that loses
/// nothing (or, for float64 → float32, only precision). Integer narrowing is checked element by element.
fn cast(data: NpyData, base: usize, spec: &InputSpec, source_name: &str) -> Result<SampleValues, DataError> {
    let dtype = match spec.raw {
        Some(raw) if data.dtype().name() == raw.name() => raw,
        _ => spec.dtype,
    };
    let wrong = |hint: &'static str| DataError::WrongDtype {
        source_name: source_name.to_string(),
        input: spec.name.clone(),
        expected: dtype,
        found: data.dtype().name().to_string(),
        hint,
    };
    let out_of_range = |index: usize, value: String| DataError::OutOfRange {
        source_name: source_name.to_string(),
        input: spec.name.clone(),
        expected: dtype,
        index: base + index,
        value,
    };
    fn ints<S: Copy + fmt::Display, T: TryFrom<S> + Copy + Default>(
        v: &[S],
        err: impl Fn(usize, String) -> DataError,
    ) -> Result<Buf<T>, DataError> {
        v.iter().enumerate().map(|(i, &x)| T::try_from(x).map_err(|_| err(i, x.to_string()))).collect()
    }
    macro_rules! int_target {
        ($variant:ident, $t:ty) => {
            SampleValues::$variant(match data {
                NpyData::I8(v) => ints::<_, $t>(&v, out_of_range)?,
                NpyData::U8(v) => ints::<_, $t>(&v, out_of_range)?,
                NpyData::I16(v) => ints::<_, $t>(&v, out_of_range)?,
                NpyData::U16(v) => ints::<_, $t>(&v, out_of_range)?,
                NpyData::I32(v) => ints::<_, $t>(&v, out_of_range)?,
                NpyData::I64(v) => ints::<_, $t>(&v, out_of_range)?,
                NpyData::F32(_) | NpyData::F64(_) => {
                    return Err(wrong("; integer inputs need an integer array (e.g. arr.astype(np.int32))"))
                }
                NpyData::Bool(_) => return Err(wrong("")),
            })
        };
    }
    Ok(match dtype {
        SampleType::F32 => match data {
            NpyData::F32(v) => SampleValues::F32(v.into()),
            NpyData::F64(v) => SampleValues::F32(v.iter().map(|&x| x as f32).collect()),
            _ => return Err(wrong("; give float data (scaled as the model expects), or a folder of images")),
        },
        SampleType::Bool => match data {
            NpyData::Bool(v) => SampleValues::Bool(v.into()),
            _ => return Err(wrong("")),
        },
        SampleType::I32 => int_target!(I32, i32),
        SampleType::I64 => int_target!(I64, i64),
        SampleType::U8 => int_target!(U8, u8),
        SampleType::I8 => int_target!(I8, i8),
        SampleType::I16 => int_target!(I16, i16),
        SampleType::C64 => return Err(wrong("; complex inputs cannot be calibrated from .npy data yet")),
    })
}

const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

fn load_folder(
    path: &Path,
    inputs: &[InputSpec],
    max: Option<usize>,
    options: &ImageOptions,
) -> Result<Vec<PendingSample>, DataError> {
    if inputs.len() != 1 {
        return Err(DataError::InputCount {
            given: format!("image folder {}", path.display()),
            names: inputs.iter().map(|s| s.name.clone()).collect(),
            hint: "use a .npz with those names or one .npy per input",
        });
    }
    let spec = &inputs[0];
    // Open height or width (None): each image keeps its own.
    let (height, width, channels) = match (spec.dtype, spec.shape.as_slice()) {
        (SampleType::F32, &[Some(1) | None, h, w, Some(c)]) if (c == 1 || c == 3) && h != Some(0) && w != Some(0) => {
            (h, w, c)
        }
        _ => {
            return Err(DataError::NotImageInput {
                path: path.to_path_buf(),
                input: spec.name.clone(),
                shape: Dims(spec.shape.clone()),
                dtype: spec.dtype,
            })
        }
    };
    let mean = per_channel("mean", options.mean.as_deref(), channels, 0.0)?;
    let std = per_channel("std", options.std.as_deref(), channels, 1.0)?;
    if let Some(&bad) = std.iter().find(|s| !s.is_finite() || **s == 0.0) {
        return Err(DataError::ZeroStd(bad));
    }

    let unreadable = |source| DataError::Unreadable { path: path.to_path_buf(), source };
    let mut files = Vec::new();
    for entry in fs::read_dir(path).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        let file = entry.path();
        let is_image = file
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)));
        if is_image && file.is_file() {
            files.push(file);
        }
    }
    if files.is_empty() {
        return Err(DataError::EmptyFolder { path: path.to_path_buf() });
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    if let Some(max) = max {
        files.truncate(max);
    }
    files
        .iter()
        .map(|file| {
            let (values, h, w) = load_image(file, height, width, channels, &mean, &std)?;
            Ok(vec![(vec![1, h, w, channels], Pending::Ready(SampleValues::F32(values.into())))])
        })
        .collect()
}

fn per_channel(
    which: &'static str,
    given: Option<&[f32]>,
    channels: usize,
    default: f32,
) -> Result<Vec<f32>, DataError> {
    match given {
        None => Ok(vec![default; channels]),
        Some([v]) => Ok(vec![*v; channels]),
        Some(v) if v.len() == channels => Ok(v.to_vec()),
        Some(v) => Err(DataError::BadNormalization { which, channels, got: v.len() }),
    }
}

/// Decodes one image to `height × width × channels` floats, normalized (an open height or
/// width keeps the image's own); returns them with the height and width.
///
/// The image is decoded to 8-bit RGB (alpha dropped, 16-bit scaled down); for one channel it is
/// turned to gray with PIL's `convert("L")` weights (ITU-R 601-2: 0.299 R + 0.587 G + 0.114 B,
/// rounded), so results match Keras/PIL pipelines. It is then resized with bilinear
/// interpolation using half-pixel centers and no antialiasing — the same as
/// `tf.image.resize(method="bilinear", antialias=False)` and OpenCV `INTER_LINEAR` — and each
/// value `x` in 0..=255 becomes `(x/255 - mean[c]) / std[c]`.
fn load_image(
    file: &Path,
    height: Option<usize>,
    width: Option<usize>,
    channels: usize,
    mean: &[f32],
    std: &[f32],
) -> Result<(Vec<f32>, usize, usize), DataError> {
    let bad = |reason: String| DataError::BadImage { path: file.to_path_buf(), reason };
    let bytes = fs::read(file).map_err(|source| DataError::Unreadable { path: file.to_path_buf(), source })?;
    let decoded = image::load_from_memory(&bytes).map_err(|e| bad(e.to_string()))?;
    let rgb = decoded.to_rgb8();
    let (src_w, src_h) = (rgb.width() as usize, rgb.height() as usize);
    if src_w == 0 || src_h == 0 {
        return Err(bad("image is empty".into()));
    }
    let pixels: Vec<f32> = if channels == 3 {
        rgb.as_raw().iter().map(|&v| f32::from(v)).collect()
    } else {
        rgb.as_raw()
            .chunks_exact(3)
            .map(|p| {
                let l = (u32::from(p[0]) * 19595 + u32::from(p[1]) * 38470 + u32::from(p[2]) * 7471 + 0x8000) >> 16;
                l as f32
            })
            .collect()
    };
    let (height, width) = (height.unwrap_or(src_h), width.unwrap_or(src_w));
    let mut out = resize_bilinear(&pixels, src_h, src_w, channels, height, width);
    for (i, v) in out.iter_mut().enumerate() {
        let c = i % channels;
        *v = (*v / 255.0 - mean[c]) / std[c];
    }
    Ok((out, height, width))
}

/// Bilinear resize of an HWC image with half-pixel centers (`src = (dst + 0.5) * in/out - 0.5`,
/// clamped to the edge), no antialiasing. Same size is an exact copy.
fn resize_bilinear(src: &[f32], in_h: usize, in_w: usize, c: usize, out_h: usize, out_w: usize) -> Vec<f32> {
    if in_h == out_h && in_w == out_w {
        return src.to_vec();
    }
    // For each output coordinate: the two source indices and the weight of the second.
    fn taps(in_len: usize, out_len: usize) -> Vec<(usize, usize, f32)> {
        let scale = in_len as f64 / out_len as f64;
        (0..out_len)
            .map(|o| {
                let pos = ((o as f64 + 0.5) * scale - 0.5).max(0.0);
                let lo = (pos.floor() as usize).min(in_len - 1);
                let hi = (lo + 1).min(in_len - 1);
                (lo, hi, (pos - lo as f64) as f32)
            })
            .collect()
    }
    let ys = taps(in_h, out_h);
    let xs = taps(in_w, out_w);
    let mut out = Vec::with_capacity(out_h * out_w * c);
    for &(y0, y1, fy) in &ys {
        for &(x0, x1, fx) in &xs {
            for ch in 0..c {
                let at = |y: usize, x: usize| src[(y * in_w + x) * c + ch];
                let top = at(y0, x0) + (at(y0, x1) - at(y0, x0)) * fx;
                let bottom = at(y1, x0) + (at(y1, x1) - at(y1, x0)) * fx;
                out.push(top + (bottom - top) * fy);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_tf_names() {
        assert_eq!(normalize_name("serving_default_image:0"), "image");
        assert_eq!(normalize_name("image"), "image");
        assert_eq!(normalize_name("x:1"), "x:1");
    }

    #[test]
    fn resize_same_size_is_identity_and_upscale_matches_half_pixel() {
        let src = [0.0, 10.0, 20.0, 30.0];
        assert_eq!(resize_bilinear(&src, 2, 2, 1, 2, 2), src.to_vec());
        // 1x2 → 1x4: positions -0.25 (clamped 0), 0.25, 0.75, 1.25 (→ edge).
        let out = resize_bilinear(&[0.0, 100.0], 1, 2, 1, 1, 4);
        assert_eq!(out, vec![0.0, 25.0, 75.0, 100.0]);
        // 4 → 2 averages neighbour pairs (no antialiasing beyond that).
        let out = resize_bilinear(&[0.0, 10.0, 20.0, 30.0], 1, 4, 1, 1, 2);
        assert_eq!(out, vec![5.0, 25.0]);
    }

    #[test]
    fn shape_list_display() {
        assert_eq!(ShapeList(vec![1, 32, 32, 3]).to_string(), "[1,32,32,3]");
        assert_eq!(ShapeList(vec![]).to_string(), "[]");
    }

    #[test]
    fn parallel_crc_equals_the_plain_one() {
        for len in [0usize, 5, (1 << 20) - 1, 1 << 20, 3 * (1 << 20) + 7] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            assert_eq!(super::crc32(&bytes), crc32fast::hash(&bytes), "length {len}");
        }
    }
}
