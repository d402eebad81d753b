//! Calibration samples from user files (`--calibration-data`).
//!
//! Each path is one of:
//! - a `.npy` whose first axis indexes samples, for a model with one input; or, when every path
//!   is a `.npy`, one file per model input in model input order;
//! - a `.npz` with one array per model input, matched by input name (`serving_default_x:0` also
//!   matches the key `x`);
//! - a folder of PNG/JPEG images (searched recursively), for a model with one float input of
//!   shape `[1,H,W,C]`, C = 1, 3 or 4: see [`super::images`].
//!
//! Several `.npz` files are read in the order given and their samples concatenated; folders are
//! pooled, and come after them. A `.npy` whose shape is exactly one sample's is one sample.

use std::fmt;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::images::ImageJob;
pub use super::images::{default_max_bytes, FolderSummary, ImageOptions, InputRange, DEFAULT_SEED};
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
    /// An image of a folder, whose header was read.
    Image(std::sync::Arc<ImageJob>),
    /// `count` float32 or float64 elements at byte `start` of `src`, becoming float32 values.
    Floats {
        src: std::sync::Arc<Src>,
        start: usize,
        count: usize,
        dtype: npy::DType,
    },
}

impl Pending {
    fn decode(&self) -> Result<SampleValues, DataError> {
        Ok(match self {
            Pending::Ready(v) => v.clone(),
            Pending::Image(job) => job.decode()?,
            Pending::Floats { src, start, count, dtype } => {
                let bytes = &src[*start..*start + count * dtype.size()];
                // Straight into the interpreter's (line-aligned) buffer.
                let t = if *dtype == npy::DType::F64 { TensorType::FLOAT64 } else { TensorType::FLOAT32 };
                SampleValues::F32(codec::decode_f32(t, bytes).unwrap_or_default())
            }
        })
    }

    /// Like [`decode`](Self::decode), without copying values that are already decoded.
    fn into_values(self) -> Result<SampleValues, DataError> {
        match self {
            Pending::Ready(v) => Ok(v),
            other => other.decode(),
        }
    }
}

/// Calibration data checked against the model's inputs (shapes, types, counts, archive CRCs),
/// whose float arrays are decoded one sample at a time when the calibrator asks for it: no
/// copy of the whole file is made, and each sample's values are fresh in cache when used.
pub struct SampleSet {
    samples: Vec<Vec<(Vec<usize>, Pending)>>,
    notes: Vec<String>,
    folders: Option<FolderSummary>,
}

impl fmt::Debug for SampleSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SampleSet").field("len", &self.len()).field("notes", &self.notes).finish()
    }
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

    /// Sample `i` (panics if `i >= len()`), decoded now: an image that fails to decode
    /// (though its header was read) is an error naming it.
    pub fn get(&self, i: usize) -> Result<Sample, DataError> {
        let inputs = self.samples[i].iter().map(|(shape, p)| Ok((shape.clone(), p.decode()?)));
        Ok(Sample { inputs: inputs.collect::<Result<_, DataError>>()? })
    }

    /// What the user should know about how the data was read, one line each (a `.npy` taken
    /// as one sample, the images used and skipped).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// What was taken from image folders, if any.
    pub fn folders(&self) -> Option<&FolderSummary> {
        self.folders.as_ref()
    }

    /// The image file of sample `i`, for samples from folders.
    pub fn image(&self, i: usize) -> Option<&Path> {
        self.samples.get(i)?.iter().find_map(|(_, p)| match p {
            Pending::Image(job) => Some(job.path.as_path()),
            _ => None,
        })
    }
}

impl From<Vec<Sample>> for SampleSet {
    fn from(samples: Vec<Sample>) -> SampleSet {
        let samples = samples
            .into_iter()
            .map(|s| s.inputs.into_iter().map(|(shape, v)| (shape, Pending::Ready(v))).collect())
            .collect();
        SampleSet { samples, notes: Vec::new(), folders: None }
    }
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
    #[error("calibration data {}: image folders need a model with one float32 input of shape [1,H,W,C], C = 1, 3 or 4; input \"{input}\" is {dtype} {shape}", path.display())]
    NotImageInput { path: PathBuf, input: String, shape: Dims, dtype: SampleType },
    #[error("calibration data {}: cannot decode image: {reason}", path.display())]
    BadImage { path: PathBuf, reason: String },
    #[error("calibration data: --{which} needs 1 or {channels} values (one per channel), got {got}")]
    BadNormalization { which: &'static str, channels: usize, got: usize },
    #[error("calibration data: --{which} {value} is not a finite number")]
    NonFiniteNormalization { which: &'static str, value: f32 },
    #[error("calibration data: --mean {value} is outside --input-range {range} (--mean/--std are in the units of --input-range){hint}")]
    MeanOutsideRange { value: f32, range: InputRange, hint: String },
    #[error("calibration data: --std {0} must be positive")]
    StdNotPositive(f32),
    #[error("calibration data: --std {value} does not fit --input-range {range}: {why} (--mean/--std are in the units of --input-range){hint}")]
    StdOutsideRange { value: f32, range: InputRange, why: String, hint: String },
    #[error("calibration data {}: {} appl{} to image folders only; .npy/.npz data is used as it is (normalize it before saving)", path.display(), flags.join("/"), if flags.len() == 1 { "ies" } else { "y" })]
    NormalizationWithArrays { path: PathBuf, flags: Vec<&'static str> },
    #[error("calibration data {what} needs {need}, over the {budget} memory budget")]
    OverBudget { what: String, need: String, budget: String },
    #[error("calibration data {line}: no usable images")]
    NoUsableImages { line: String },
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
    set.samples
        .into_iter()
        .map(|s| {
            let inputs = s.into_iter().map(|(shape, p)| Ok((shape, p.into_values()?)));
            Ok(Sample { inputs: inputs.collect::<Result<_, DataError>>()? })
        })
        .collect()
}

/// Like [`load_samples`], with every check done now but float arrays and images decoded only
/// as each sample is taken from the set. From image folders, `max_samples` draws a seeded
/// sample stratified by subfolder (see [`super::images`]).
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
    let given = image.given();
    if !given.is_empty() {
        // With folders among the data, the flags are for them.
        if !kinds.iter().any(|(_, k)| *k == Kind::Folder) {
            return Err(DataError::NormalizationWithArrays { path: kinds[0].0.to_path_buf(), flags: given });
        }
        image.check()?;
    }
    let mut notes = Vec::new();
    let mut folders = None;

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
            let column = split_samples(&src, 0..src.len(), spec, path, &path.display().to_string(), max_samples)?;
            if let Some(shape) = &column.single {
                notes.push(format!(
                    "{} has the shape of one sample of input \"{}\" ({}, no sample axis): taken as one sample",
                    path.display(),
                    spec.name,
                    ShapeList(shape.clone())
                ));
            }
            columns.push(column);
        }
        zip_columns(columns, inputs)?
    } else {
        let mut all = Vec::new();
        let mut budget = image.max_bytes;
        for (path, kind) in &kinds {
            let left = max_samples.map(|m| m.saturating_sub(all.len()));
            if left == Some(0) {
                break;
            }
            if *kind == Kind::Npz {
                all.append(&mut load_npz(path, inputs, left, &mut budget, image.max_bytes)?);
            }
        }
        let roots: Vec<&Path> = kinds.iter().filter(|(_, k)| *k == Kind::Folder).map(|(p, _)| p.as_path()).collect();
        let left = max_samples.map(|m| m.saturating_sub(all.len()));
        if !roots.is_empty() && left != Some(0) {
            if inputs.len() != 1 {
                return Err(DataError::InputCount {
                    given: format!("image folder {}", roots[0].display()),
                    names: input_names(),
                    hint: "use a .npz with those names or one .npy per input",
                });
            }
            let (jobs, summary) = super::images::choose(&roots, &inputs[0], left, image)?;
            all.extend(jobs.into_iter().map(|job| vec![(job.shape(), Pending::Image(job))]));
            notes.push(summary.to_string());
            folders = Some(summary);
        }
        all
    };
    if samples.is_empty() {
        return Err(DataError::NoSamples { what: what() });
    }
    Ok(SampleSet { samples, notes, folders })
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

/// The samples of a `.npz`; inflated members are counted against `budget` (what is left of
/// `max_bytes`).
fn load_npz(
    path: &Path,
    inputs: &[InputSpec],
    max: Option<usize>,
    budget: &mut u64,
    max_bytes: u64,
) -> Result<Vec<PendingSample>, DataError> {
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
        let source_name = format!("{} (array \"{key}\")", path.display());
        let (src, range) = match member_bytes(&file, &mut archive, member, budget) {
            Ok(found) => found,
            Err(MemberError::Corrupt(e)) => return Err(malformed(format!("{member}: {e}"))),
            Err(MemberError::Npy(e)) => return Err(npy_error(&path.join(member), e)),
            Err(MemberError::OverBudget(need)) => {
                return Err(DataError::OverBudget {
                    what: source_name,
                    need: format!("{} inflated", super::images::human(u128::from(need))),
                    budget: super::images::human(u128::from(max_bytes)),
                })
            }
        };
        columns.push(split_samples(&src, range, spec, &path.join(member), &source_name, max)?);
    }
    zip_columns(columns, inputs)
}

enum MemberError {
    Corrupt(String),
    Npy(NpyError),
    /// The declared inflated size, over what is left of the budget.
    OverBudget(u64),
}

/// Where one archive member's bytes are: a range of the mapped file for a stored (uncompressed)
/// member, as `np.savez` writes them, after checking its CRC; else the inflated bytes. Before
/// inflating, the size the zip header declares is checked against `budget` (and taken from it)
/// and against the size the member's `.npy` header gives (shape × dtype); inflating stops past
/// the declared size, and the CRC is checked.
fn member_bytes(
    file: &std::sync::Arc<Src>,
    archive: &mut zip::ZipArchive<std::io::Cursor<&[u8]>>,
    member: &str,
    budget: &mut u64,
) -> Result<(std::sync::Arc<Src>, std::ops::Range<usize>), MemberError> {
    let corrupt = |e: String| MemberError::Corrupt(e);
    let map: &[u8] = file;
    let mut entry = archive.by_name(member).map_err(|e| corrupt(e.to_string()))?;
    if entry.compression() == zip::CompressionMethod::Stored && !entry.encrypted() {
        let range = usize::try_from(entry.data_start())
            .ok()
            .zip(usize::try_from(entry.size()).ok())
            .and_then(|(start, len)| Some(start..start.checked_add(len)?))
            .filter(|r| r.end <= map.len())
            .ok_or_else(|| corrupt("member data lies outside the file".into()))?;
        if crc32(&map[range.clone()]) != entry.crc32() {
            return Err(corrupt("CRC mismatch: the archive is corrupt".into()));
        }
        return Ok((file.clone(), range));
    }
    let declared = entry.size();
    if declared > *budget {
        return Err(MemberError::OverBudget(declared));
    }
    let declared_len = usize::try_from(declared).map_err(|_| MemberError::OverBudget(declared))?;
    // The .npy header first (at most 1 MiB of it), to check the declared size against it.
    const MAX_HEADER: u64 = 1 << 20;
    let mut bytes = Vec::with_capacity(declared_len.min(MAX_HEADER as usize));
    (&mut entry).take(declared.min(MAX_HEADER)).read_to_end(&mut bytes).map_err(|e| corrupt(e.to_string()))?;
    let header = match npy::parse_header(&bytes) {
        Ok(h) => h,
        Err(NpyError::Truncated) if bytes.len() as u64 == MAX_HEADER => {
            return Err(corrupt("the .npy header is longer than 1 MiB".into()))
        }
        Err(e) => return Err(MemberError::Npy(e)),
    };
    let needed = npy::element_count(&header.shape)
        .and_then(|n| n.checked_mul(header.dtype.size()))
        .and_then(|n| n.checked_add(header.data_offset));
    if needed != Some(declared_len) {
        let needed = needed.map_or("more than can be addressed".to_string(), |n| format!("{n} bytes"));
        return Err(corrupt(format!(
            "the zip header declares {declared} bytes but the .npy header's shape {} {} needs {needed}: the archive is corrupt",
            ShapeList(header.shape.clone()),
            header.dtype.name()
        )));
    }
    bytes.reserve_exact(declared_len - bytes.len());
    let rest = declared - bytes.len() as u64;
    (&mut entry).take(rest + 1).read_to_end(&mut bytes).map_err(|e| corrupt(e.to_string()))?;
    if bytes.len() != declared_len {
        let how = if bytes.len() > declared_len { "past" } else { "short of" };
        return Err(corrupt(format!(
            "inflates {how} the {declared} bytes its zip header declares: the archive is corrupt"
        )));
    }
    if crc32(&bytes) != entry.crc32() {
        return Err(corrupt("CRC mismatch: the archive is corrupt".into()));
    }
    *budget -= declared;
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
    /// The array's shape, when it was taken as one sample without a sample axis.
    single: Option<Vec<usize>>,
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
    // No sample axis: the whole array is one sample (with or without its batch dimension of 1).
    let single = sample_shape.is_none()
        && !arr.shape.is_empty()
        && (spec.batch_optional() && spec.accepts(&[&[1], &arr.shape[..]].concat()) || spec.accepts(&arr.shape));
    let sample_shape = match sample_shape {
        None if single && spec.accepts(&arr.shape) => Some(arr.shape.clone()),
        None if single => Some([&[1], &arr.shape[..]].concat()),
        s => s,
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
    let (total, per) = if single {
        (1, npy::element_count(&arr.shape).unwrap_or(0))
    } else {
        (arr.shape[0], npy::element_count(&arr.shape[1..]).unwrap_or(0))
    };
    let single = single.then(|| arr.shape.clone());
    let take = max.map_or(total, |m| m.min(total));
    if spec.dtype == SampleType::F32 && matches!(arr.dtype, npy::DType::F32 | npy::DType::F64) {
        let body = range.start + (arr.body.as_ptr() as usize - whole.as_ptr() as usize);
        let size = arr.dtype.size();
        let samples = (0..take)
            .map(|i| Pending::Floats { src: src.clone(), start: body + i * per * size, count: per, dtype: arr.dtype })
            .collect();
        return Ok(Column { name: spec.name.clone(), shape: sample_shape, total, samples, single });
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
    Ok(Column { name: spec.name.clone(), shape: sample_shape, total, samples, single })
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
