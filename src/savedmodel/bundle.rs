//! TensorBundle checkpoints: `<prefix>.index` (a LevelDB table of `BundleEntryProto`s) and
//! the data shards `<prefix>.data-NNNNN-of-NNNNN` it points into.
//!
//! The index is read and checked in full when the bundle is opened; each tensor's bytes are
//! checked (size against dtype and shape, bounds, CRC32C) when they are asked for, so a
//! checkpoint with entries the caller never reads (optimizer state, iterators) still opens.
//! Tensor bytes are zero-copy views of the mapped data files.

use std::fmt;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use prost::Message;

pub use super::table::TableError;
use super::table::{self, lossy, unmask, varint, FUZZING};

/// TF DataType numbers this reader handles by name.
const DT_STRING: i32 = 7;
const DT_VARIANT: i32 = 21;
/// The bundle format version this reader implements (TF's kTensorBundleVersion) and the
/// oldest producer it accepts (kTensorBundleMinProducer).
const BUNDLE_VERSION: i32 = 1;
const BUNDLE_MIN_PRODUCER: i32 = 0;

/// Why a bundle, or one of its tensors, cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{}: not a regular file", path.display())]
    NotAFile { path: PathBuf },
    #[error("{}: file not found", path.display())]
    Missing { path: PathBuf },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: {source}", path.display())]
    Table { path: PathBuf, source: TableError },
    #[error("{}: key {key:?} is not UTF-8", path.display())]
    KeyNotUtf8 { path: PathBuf, key: String },
    #[error("{}: no header entry (the empty key); not a TensorBundle index", path.display())]
    MissingHeader { path: PathBuf },
    #[error("{}: key {key:?}: malformed {what}: {}", path.display(), crate::graphdef::proto::decode_reason(source))]
    BadProto { path: PathBuf, key: String, what: &'static str, source: prost::DecodeError },
    #[error("{}: header gives {num_shards} data shards", path.display())]
    BadShardCount { path: PathBuf, num_shards: i32 },
    #[error("{}: the bundle is big-endian; only little-endian bundles are supported", path.display())]
    BigEndian { path: PathBuf },
    #[error("{}: unknown endianness {value} in the header", path.display())]
    UnknownEndianness { path: PathBuf, value: i32 },
    #[error("{}: bundle version (producer {producer}, min_consumer {min_consumer}, bad_consumers {bad_consumers:?}) is not readable by version {BUNDLE_VERSION}", path.display())]
    UnsupportedVersion { path: PathBuf, producer: i32, min_consumer: i32, bad_consumers: Vec<i32> },
    #[error("{}: {given} data shards given, the header says {expected}", path.display())]
    ShardCountMismatch { path: PathBuf, given: usize, expected: usize },
    #[error("{}: no key {key:?}", path.display())]
    NoSuchKey { path: PathBuf, key: String },
    #[error("{}: key {key:?} is a partitioned variable ({slices} slices), which is not supported", path.display())]
    Sliced { path: PathBuf, key: String, slices: usize },
    #[error("{}: key {key:?} has dtype {}, which is not a supported numeric type", path.display(), DtypeName(*dtype))]
    UnsupportedDtype { path: PathBuf, key: String, dtype: i32 },
    #[error("{}: key {key:?} has dtype {}, not string", path.display(), DtypeName(*dtype))]
    NotString { path: PathBuf, key: String, dtype: i32 },
    #[error("{}: key {key:?} has an invalid shape {shape:?}", path.display())]
    BadShape { path: PathBuf, key: String, shape: Vec<i64> },
    #[error("{}: key {key:?} has an unknown rank", path.display())]
    UnknownRank { path: PathBuf, key: String },
    #[error("{}: key {key:?} has {size} bytes, but shape {shape:?} of {} needs {expected}", path.display(), DtypeName(*dtype))]
    SizeMismatch { path: PathBuf, key: String, dtype: i32, shape: Vec<i64>, size: i64, expected: u64 },
    #[error("{}: key {key:?} is in shard {shard_id}, but the bundle has {num_shards}", path.display())]
    BadShardId { path: PathBuf, key: String, shard_id: i32, num_shards: usize },
    #[error("{}: key {key:?} at offset {offset} with size {size} lies outside the {file_len}-byte file", file.display())]
    OutOfShard { file: PathBuf, key: String, offset: i64, size: i64, file_len: usize },
    #[error("{}: key {key:?}: CRC32C mismatch (stored {stored:#010x}, computed {actual:#010x})", file.display())]
    Crc { file: PathBuf, key: String, stored: u32, actual: u32 },
    #[error("{}: key {key:?}: string lengths are truncated", file.display())]
    StringLengths { file: PathBuf, key: String },
    #[error("{}: key {key:?}: CRC32C mismatch in the string lengths (stored {stored:#010x}, computed {actual:#010x})", file.display())]
    StringLengthCrc { file: PathBuf, key: String, stored: u32, actual: u32 },
    #[error("{}: key {key:?}: string lengths add up to {total} bytes, but {available} follow them", file.display())]
    StringSizeMismatch { file: PathBuf, key: String, total: u64, available: usize },
}

/// One tensor's entry in the index (a `BundleEntryProto`).
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// TF DataType number (1 FLOAT, 3 INT32, 7 STRING, …).
    pub dtype: i32,
    /// Dimensions as stored; may hold invalid (negative) sizes, which `tensor` rejects.
    pub shape: Vec<i64>,
    pub shard_id: i32,
    pub offset: i64,
    pub size: i64,
    /// The stored (masked) CRC32C of the tensor's bytes.
    pub crc32c: u32,
    unknown_rank: bool,
    slices: usize,
}

impl Entry {
    /// Whether this entry only describes a partitioned variable (its data lives in slice entries).
    pub fn is_sliced(&self) -> bool {
        self.slices > 0
    }

    /// The element size in bytes of a numeric dtype this reader supports.
    pub fn element_size(&self) -> Option<usize> {
        element_size(self.dtype)
    }
}

/// An open checkpoint: the parsed index and the data shards.
pub struct Bundle {
    index_path: PathBuf,
    /// Sorted by key; the header entry is not included.
    entries: Vec<(String, Entry)>,
    /// Data file names, and their bytes (maps, or memory for `from_memory`).
    shard_paths: Vec<PathBuf>,
    shards: Vec<Bytes>,
}

impl fmt::Debug for Bundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bundle").field("index", &self.index_path).field("entries", &self.entries.len()).finish()
    }
}

impl Bundle {
    /// `prefix` = e.g. `<dir>/variables/variables`; opens `<prefix>.index` and maps every
    /// `<prefix>.data-%05d-of-%05d`. The files must not change while the bundle is alive.
    pub fn open(prefix: &Path) -> Result<Bundle, BundleError> {
        let index_path = suffixed(prefix, ".index");
        check_regular(&index_path)?;
        let io = |source: std::io::Error| BundleError::Io { path: index_path.clone(), source };
        let index = std::fs::read(&index_path).map_err(io)?;
        let (entries, num_shards) = parse_index(&index_path, &index)?;
        // One file at a time: a hostile shard count fails at the first missing file, before
        // anything is allocated for it.
        let (mut shard_paths, mut shards) = (Vec::new(), Vec::new());
        for i in 0..num_shards {
            let path = shard_path(prefix, i, num_shards);
            shards.push(map(&path)?);
            shard_paths.push(path);
        }
        Ok(Bundle { index_path, entries, shard_paths, shards })
    }

    /// A bundle from bytes already in memory (for fuzzing and tests): the index file's bytes
    /// and every data shard in order. `prefix` only names the files in error messages.
    pub fn from_memory(prefix: &Path, index: &[u8], shards: Vec<Bytes>) -> Result<Bundle, BundleError> {
        let index_path = suffixed(prefix, ".index");
        let (entries, num_shards) = parse_index(&index_path, index)?;
        if shards.len() != num_shards {
            return Err(BundleError::ShardCountMismatch {
                path: index_path,
                given: shards.len(),
                expected: num_shards,
            });
        }
        let shard_paths = (0..num_shards).map(|i| shard_path(prefix, i, num_shards)).collect();
        Ok(Bundle { index_path, entries, shard_paths, shards })
    }

    /// Every tensor key, sorted (bytewise), without the header's empty key.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }

    pub fn entry(&self, key: &str) -> Option<&Entry> {
        let i = self.entries.binary_search_by(|(k, _)| k.as_str().cmp(key)).ok()?;
        Some(&self.entries[i].1)
    }

    /// The number of data shards.
    pub fn num_shards(&self) -> usize {
        self.shards.len()
    }

    /// Raw little-endian tensor bytes, CRC32C-checked, as a zero-copy view of the data file.
    /// Rejects strings, variants, partitioned variables and unknown dtypes.
    pub fn tensor(&self, key: &str) -> Result<Bytes, BundleError> {
        let e = self.lookup(key)?;
        let Some(elem) = element_size(e.dtype) else {
            return Err(BundleError::UnsupportedDtype {
                path: self.index_path.clone(),
                key: key.into(),
                dtype: e.dtype,
            });
        };
        let numel = self.numel(key, e)?;
        let expected = numel.checked_mul(elem as u64);
        if expected != u64::try_from(e.size).ok() {
            return Err(BundleError::SizeMismatch {
                path: self.index_path.clone(),
                key: key.into(),
                dtype: e.dtype,
                shape: e.shape.clone(),
                size: e.size,
                // Saturates only for shapes too large for any file.
                expected: expected.unwrap_or(u64::MAX),
            });
        }
        let (shard, bytes) = self.bytes(key, e)?;
        let actual = crc32c::crc32c(&bytes);
        if actual != unmask(e.crc32c) && !FUZZING {
            return Err(self.crc_error(shard, key, e, actual));
        }
        Ok(bytes)
    }

    /// A DT_STRING tensor's elements in row-major order, with the length CRC and the entry
    /// CRC checked. Layout (facts 2.5): varint64 lengths, their masked CRC, then the bytes.
    pub fn strings(&self, key: &str) -> Result<Vec<Vec<u8>>, BundleError> {
        let e = self.lookup(key)?;
        if e.dtype != DT_STRING {
            return Err(BundleError::NotString { path: self.index_path.clone(), key: key.into(), dtype: e.dtype });
        }
        let numel = self.numel(key, e)?;
        let (shard, data) = self.bytes(key, e)?;
        let file = || self.shard_paths[shard].clone();
        let truncated = || BundleError::StringLengths { file: file(), key: key.into() };
        // Each length takes at least one byte, so this bounds the allocation by the entry size.
        if numel > data.len() as u64 {
            return Err(truncated());
        }
        let mut lengths = Vec::with_capacity(numel as usize);
        let mut crc = 0u32;
        let mut pos = 0;
        for _ in 0..numel {
            let len = varint(&data, &mut pos).ok_or_else(truncated)?;
            // TF checksums each length as a u32, or as a u64 when it does not fit.
            crc = match u32::try_from(len) {
                Ok(small) => crc32c::crc32c_append(crc, &small.to_le_bytes()),
                Err(_) => crc32c::crc32c_append(crc, &len.to_le_bytes()),
            };
            lengths.push(len);
        }
        let stored_bytes = data.get(pos..pos + 4).ok_or_else(truncated)?;
        let stored = unmask(u32::from_le_bytes(stored_bytes.try_into().unwrap()));
        if stored != crc && !FUZZING {
            return Err(BundleError::StringLengthCrc { file: file(), key: key.into(), stored, actual: crc });
        }
        crc = crc32c::crc32c_append(crc, stored_bytes);
        pos += 4;
        let available = data.len() - pos;
        let total = lengths.iter().try_fold(0u64, |t, &l| t.checked_add(l));
        if total != Some(available as u64) {
            let total = total.unwrap_or(u64::MAX);
            return Err(BundleError::StringSizeMismatch { file: file(), key: key.into(), total, available });
        }
        let mut out = Vec::with_capacity(lengths.len());
        for len in lengths {
            // Fits: the lengths add up to `available`.
            let s = &data[pos..pos + len as usize];
            crc = crc32c::crc32c_append(crc, s);
            out.push(s.to_vec());
            pos += len as usize;
        }
        if crc != unmask(e.crc32c) && !FUZZING {
            return Err(self.crc_error(shard, key, e, crc));
        }
        Ok(out)
    }

    /// The entry for `key`, if it holds its own data.
    fn lookup(&self, key: &str) -> Result<&Entry, BundleError> {
        let e =
            self.entry(key).ok_or_else(|| BundleError::NoSuchKey { path: self.index_path.clone(), key: key.into() })?;
        if e.is_sliced() {
            return Err(BundleError::Sliced { path: self.index_path.clone(), key: key.into(), slices: e.slices });
        }
        if e.dtype == DT_VARIANT {
            return Err(BundleError::UnsupportedDtype {
                path: self.index_path.clone(),
                key: key.into(),
                dtype: e.dtype,
            });
        }
        Ok(e)
    }

    /// The element count of `e`'s shape, or an error for unknown rank, negative or
    /// overflowing dimensions.
    fn numel(&self, key: &str, e: &Entry) -> Result<u64, BundleError> {
        if e.unknown_rank {
            return Err(BundleError::UnknownRank { path: self.index_path.clone(), key: key.into() });
        }
        e.shape.iter().try_fold(1u64, |n, &d| n.checked_mul(u64::try_from(d).ok()?)).ok_or_else(|| {
            BundleError::BadShape { path: self.index_path.clone(), key: key.into(), shape: e.shape.clone() }
        })
    }

    /// The shard index and the bytes `[offset, offset + size)` of `e`, bounds-checked.
    fn bytes(&self, key: &str, e: &Entry) -> Result<(usize, Bytes), BundleError> {
        let shard = usize::try_from(e.shard_id).ok().filter(|&s| s < self.shards.len()).ok_or_else(|| {
            BundleError::BadShardId {
                path: self.index_path.clone(),
                key: key.into(),
                shard_id: e.shard_id,
                num_shards: self.shards.len(),
            }
        })?;
        let data = &self.shards[shard];
        let range = usize::try_from(e.offset)
            .ok()
            .zip(usize::try_from(e.size).ok())
            .and_then(|(o, s)| Some(o..o.checked_add(s)?))
            .filter(|r| r.end <= data.len());
        let Some(range) = range else {
            return Err(BundleError::OutOfShard {
                file: self.shard_paths[shard].clone(),
                key: key.into(),
                offset: e.offset,
                size: e.size,
                file_len: data.len(),
            });
        };
        Ok((shard, data.slice(range)))
    }

    fn crc_error(&self, shard: usize, key: &str, e: &Entry, actual: u32) -> BundleError {
        BundleError::Crc { file: self.shard_paths[shard].clone(), key: key.into(), stored: unmask(e.crc32c), actual }
    }
}

/// Element sizes of the numeric TF DataTypes this reader supports.
fn element_size(dtype: i32) -> Option<usize> {
    Some(match dtype {
        4 | 6 | 10 => 1,       // UINT8, INT8, BOOL
        5 | 14 | 17 | 19 => 2, // INT16, BFLOAT16, UINT16, HALF
        1 | 3 | 22 => 4,       // FLOAT, INT32, UINT32
        2 | 9 | 23 | 8 => 8,   // DOUBLE, INT64, UINT64, COMPLEX64
        18 => 16,              // COMPLEX128
        _ => return None,
    })
}

/// A DataType number with its name, for messages.
struct DtypeName(i32);

impl fmt::Display for DtypeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [&str; 24] = [
            "INVALID",
            "FLOAT",
            "DOUBLE",
            "INT32",
            "UINT8",
            "INT16",
            "INT8",
            "STRING",
            "COMPLEX64",
            "INT64",
            "BOOL",
            "QINT8",
            "QUINT8",
            "QINT32",
            "BFLOAT16",
            "QINT16",
            "QUINT16",
            "UINT16",
            "COMPLEX128",
            "HALF",
            "RESOURCE",
            "VARIANT",
            "UINT32",
            "UINT64",
        ];
        match usize::try_from(self.0).ok().and_then(|i| NAMES.get(i)) {
            Some(name) => write!(f, "{name} ({})", self.0),
            None => write!(f, "DataType {}", self.0),
        }
    }
}

/// Parses and checks the whole index: the entries (sorted, header removed) and the shard count.
fn parse_index(path: &Path, file: &[u8]) -> Result<(Vec<(String, Entry)>, usize), BundleError> {
    let items = table::read_all(file).map_err(|source| BundleError::Table { path: path.into(), source })?;
    let mut items = items.into_iter();
    let header = match items.next() {
        Some(item) if item.key.is_empty() => item,
        _ => return Err(BundleError::MissingHeader { path: path.into() }),
    };
    let bad_proto = |key: &[u8], what| {
        let key = lossy(key);
        move |source| BundleError::BadProto { path: path.into(), key, what, source }
    };
    let h = HeaderProto::decode(&file[header.value]).map_err(bad_proto(b"", "BundleHeaderProto"))?;
    let num_shards = usize::try_from(h.num_shards)
        .map_err(|_| BundleError::BadShardCount { path: path.into(), num_shards: h.num_shards })?;
    match h.endianness {
        0 => {}
        1 => return Err(BundleError::BigEndian { path: path.into() }),
        value => return Err(BundleError::UnknownEndianness { path: path.into(), value }),
    }
    // TF's usual VersionDef rules (CheckVersions).
    let v = h.version.unwrap_or_default();
    if v.producer < BUNDLE_MIN_PRODUCER || v.min_consumer > BUNDLE_VERSION || v.bad_consumers.contains(&BUNDLE_VERSION)
    {
        return Err(BundleError::UnsupportedVersion {
            path: path.into(),
            producer: v.producer,
            min_consumer: v.min_consumer,
            bad_consumers: v.bad_consumers,
        });
    }
    let mut entries = Vec::with_capacity(items.len());
    for item in items {
        let e = EntryProto::decode(&file[item.value]).map_err(bad_proto(&item.key, "BundleEntryProto"))?;
        // The pieces of a partitioned variable are stored under binary slice keys, which
        // start with a 0 byte (an OrderedCode-encoded 0); they are never looked up by name.
        if item.key.first() == Some(&0) {
            continue;
        }
        let key = String::from_utf8(item.key)
            .map_err(|err| BundleError::KeyNotUtf8 { path: path.into(), key: lossy(err.as_bytes()) })?;
        let shape = e.shape.unwrap_or_default();
        entries.push((
            key,
            Entry {
                dtype: e.dtype,
                shape: shape.dim.iter().map(|d| d.size).collect(),
                shard_id: e.shard_id,
                offset: e.offset,
                size: e.size,
                crc32c: e.crc32c,
                unknown_rank: shape.unknown_rank,
                slices: e.slices.len(),
            },
        ));
    }
    Ok((entries, num_shards))
}

/// `prefix` with `suffix` appended to its last component (`variables` → `variables.index`).
fn suffixed(prefix: &Path, suffix: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// `<prefix>.data-%05d-of-%05d` (TF's naming.cc).
fn shard_path(prefix: &Path, shard: usize, num_shards: usize) -> PathBuf {
    suffixed(prefix, &format!(".data-{shard:05}-of-{num_shards:05}"))
}

/// Fails unless `path` is a regular file (checked first so a FIFO is never opened).
fn check_regular(path: &Path) -> Result<(), BundleError> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(BundleError::NotAFile { path: path.into() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(BundleError::Missing { path: path.into() }),
        Err(source) => Err(BundleError::Io { path: path.into(), source }),
    }
}

/// Maps a data file read-only, as `Bytes` that keep the map alive.
fn map(path: &Path) -> Result<Bytes, BundleError> {
    check_regular(path)?;
    let io = |source| BundleError::Io { path: path.into(), source };
    let file = std::fs::File::open(path).map_err(io)?;
    if file.metadata().map_err(io)?.len() == 0 {
        return Ok(Bytes::new()); // nothing to map (a bundle of empty tensors)
    }
    // SAFETY: the map is read-only; like every input, the checkpoint must not change while read.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
    Ok(Bytes::from_owner(map))
}

/// tensorflow.BundleHeaderProto
#[derive(Clone, PartialEq, prost::Message)]
struct HeaderProto {
    #[prost(int32, tag = "1")]
    num_shards: i32,
    #[prost(int32, tag = "2")]
    endianness: i32,
    #[prost(message, optional, tag = "3")]
    version: Option<VersionProto>,
}

/// tensorflow.VersionDef
#[derive(Clone, PartialEq, prost::Message)]
struct VersionProto {
    #[prost(int32, tag = "1")]
    producer: i32,
    #[prost(int32, tag = "2")]
    min_consumer: i32,
    #[prost(int32, repeated, tag = "3")]
    bad_consumers: Vec<i32>,
}

/// tensorflow.BundleEntryProto
#[derive(Clone, PartialEq, prost::Message)]
struct EntryProto {
    #[prost(int32, tag = "1")]
    dtype: i32,
    #[prost(message, optional, tag = "2")]
    shape: Option<ShapeProto>,
    #[prost(int32, tag = "3")]
    shard_id: i32,
    #[prost(int64, tag = "4")]
    offset: i64,
    #[prost(int64, tag = "5")]
    size: i64,
    #[prost(fixed32, tag = "6")]
    crc32c: u32,
    /// TensorSliceProto messages; only their count matters (any slice → rejected).
    #[prost(bytes = "vec", repeated, tag = "7")]
    slices: Vec<Vec<u8>>,
}

/// tensorflow.TensorShapeProto
#[derive(Clone, PartialEq, prost::Message)]
struct ShapeProto {
    #[prost(message, repeated, tag = "2")]
    dim: Vec<DimProto>,
    #[prost(bool, tag = "3")]
    unknown_rank: bool,
}

/// tensorflow.TensorShapeProto.Dim
#[derive(Clone, PartialEq, prost::Message)]
struct DimProto {
    #[prost(int64, tag = "1")]
    size: i64,
}
