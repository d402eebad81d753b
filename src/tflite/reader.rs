//! Verified reader: `.tflite` bytes → Model IR.
//!
//! The flatbuffer is verified once, then every index is checked while it is
//! mapped into the IR, so later passes can index without checks. Buffer data
//! stays a view of the (memory-mapped) input.

use crate::ir::{
    Buffer, Data, IndexError, Metadata, Model, Operator, OperatorCode, QuantParams, SignatureDef, Source, Subgraph,
    Tensor, TensorMap, SCHEMA_VERSION,
};
use crate::schema::{self as fb, BuiltinOperator, QuantizationDetailsT};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const IDENTIFIER: &[u8; 4] = b"TFL3";

/// Why a file could not be read as a TFLite model. Each names what is wrong and where.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {path}: {err}")]
    Io { path: PathBuf, err: std::io::Error },
    #[error("the file is empty")]
    Empty,
    #[error("{kind}, not a model file")]
    NotAFile { kind: &'static str },
    #[error("the file is {len} bytes, too short for a TFLite model (truncated?)")]
    TooShort { len: usize },
    #[error("not a TFLite model: file identifier is {found}, expected \"TFL3\"{hint}")]
    WrongIdentifier { found: String, hint: &'static str },
    #[error("truncated or corrupt TFLite file: it is {len} bytes but refers to data up to byte {needed}")]
    Truncated { len: usize, needed: usize },
    #[error("corrupt TFLite file ({len} bytes): {detail}")]
    Malformed { len: usize, detail: String },
    #[error("unsupported schema version {0} (only version 3 is supported)")]
    UnsupportedVersion(u32),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Check(#[from] super::check::ModelFault),
    #[error("{location}: unknown {what} value {value} (newer schema than tflq knows?)")]
    UnknownValue { location: String, what: &'static str, value: i64 },
    #[error("{location}: data at offset {offset}, size {size} lies outside the {file_len}-byte file")]
    OutsideFile { location: String, offset: u64, size: u64, file_len: usize },
}

/// Memory-maps `path` and reads it. The file must not change while the model is alive.
pub fn load(path: &Path) -> Result<Model, ReadError> {
    read(map_file(path)?)
}

/// Memory-maps a model file (either input format) for zero-copy reading.
pub fn map_file(path: &Path) -> Result<Arc<Source>, ReadError> {
    let io = |err| ReadError::Io { path: path.to_path_buf(), err };
    if let Some(kind) = crate::ir::special_file(path) {
        return Err(ReadError::NotAFile { kind });
    }
    let file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len == 0 {
        return Err(ReadError::Empty);
    }
    // SAFETY: the map is read-only; we document that the input must not be modified while mapped.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
    Ok(Arc::new(Source::Mapped { map, file }))
}

/// Reads a model from bytes. Buffer data in the IR stays a view of `source`.
pub fn read(source: Arc<Source>) -> Result<Model, ReadError> {
    let bytes: &[u8] = &source;
    check_header(bytes)?;
    // Limits in proportion to the file. Flatbuffer references may be shared
    // (a DAG), and the IR copies a shared table or vector once per reference,
    // so a few KB could otherwise unpack into gigabytes. Without sharing a file
    // has at most one table per 4 bytes, and the verifier counts each byte once
    // plus one vtable (≤ 40 bytes in this schema) per table: about 11× the length.
    let opts = flatbuffers::VerifierOptions {
        max_depth: 64,
        max_tables: (bytes.len() / 4).max(1 << 10),
        max_apparent_size: bytes.len().saturating_mul(64).max(1 << 20),
        ignore_missing_null_terminator: true,
    };
    let root = fb::root_with_opts(&opts, bytes).map_err(|e| match e {
        flatbuffers::InvalidFlatbuffer::RangeOutOfBounds { ref range, .. } if range.end > bytes.len() => {
            ReadError::Truncated { len: bytes.len(), needed: range.end }
        }
        e => ReadError::Malformed { len: bytes.len(), detail: one_line(&e.to_string()) },
    })?;
    if root.version() != SCHEMA_VERSION {
        return Err(ReadError::UnsupportedVersion(root.version()));
    }
    Mapper { source: &source, bytes }.model(root)
}

fn check_header(bytes: &[u8]) -> Result<(), ReadError> {
    if bytes.is_empty() {
        return Err(ReadError::Empty);
    }
    if bytes.len() < 8 {
        return Err(ReadError::TooShort { len: bytes.len() });
    }
    let id = &bytes[4..8];
    if id != IDENTIFIER {
        let found = if id.iter().all(|b| b.is_ascii_graphic()) {
            format!("\"{}\"", String::from_utf8_lossy(id))
        } else {
            format!("bytes {:02x} {:02x} {:02x} {:02x}", id[0], id[1], id[2], id[3])
        };
        return Err(ReadError::WrongIdentifier { found, hint: sniff(bytes) });
    }
    Ok(())
}

/// Names common formats users pass by mistake.
fn sniff(b: &[u8]) -> &'static str {
    if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        " (this looks like a JPEG image)"
    } else if b.starts_with(b"\x89PNG") {
        " (this looks like a PNG image)"
    } else if b.starts_with(b"\x89HDF") {
        " (this looks like an HDF5/Keras .h5 file: convert it to .tflite first)"
    } else if b.starts_with(b"PK\x03\x04") {
        " (this looks like a zip archive, e.g. a .keras file)"
    } else if b.starts_with(b"\x93NUMPY") {
        " (this looks like a NumPy .npy file)"
    } else if b[0] == 0x0A {
        " (this may be a TensorFlow GraphDef .pb)"
    } else {
        ""
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

struct Mapper<'s> {
    source: &'s Arc<Source>,
    bytes: &'s [u8],
}

fn vec_of<'a, T: flatbuffers::Follow<'a> + 'a>(v: Option<flatbuffers::Vector<'a, T>>) -> Option<Vec<T::Inner>> {
    v.map(|v| v.iter().collect())
}

impl Mapper<'_> {
    /// The position of a verified vector's contents within the file.
    fn range_of(&self, contents: &[u8]) -> std::ops::Range<usize> {
        let start = contents.as_ptr() as usize - self.bytes.as_ptr() as usize;
        start..start + contents.len()
    }

    /// Data stored after the flatbuffer (`offset`/`size` fields); offsets ≤ 1 mean "not set".
    fn outside(&self, location: impl FnOnce() -> String, offset: u64, size: u64) -> Result<Option<Data>, ReadError> {
        if offset <= 1 {
            return Ok(None);
        }
        let end = offset.checked_add(size);
        match end {
            Some(end) if end <= self.bytes.len() as u64 => {
                Ok(Some(Data::mapped(self.source, offset as usize..end as usize)))
            }
            _ => Err(ReadError::OutsideFile { location: location(), offset, size, file_len: self.bytes.len() }),
        }
    }

    fn model(&self, m: fb::Model<'_>) -> Result<Model, ReadError> {
        let buffers = m
            .buffers()
            .map(|bs| {
                bs.iter()
                    .enumerate()
                    .map(|(i, b)| {
                        let inline = b
                            .data()
                            .filter(|d| !d.is_empty())
                            .map(|d| Data::mapped(self.source, self.range_of(d.bytes())));
                        let data = match inline {
                            Some(d) => d,
                            None => self.outside(|| format!("buffer {i}"), b.offset(), b.size())?.unwrap_or_default(),
                        };
                        Ok(Buffer { data })
                    })
                    .collect::<Result<Vec<_>, ReadError>>()
            })
            .transpose()?
            .unwrap_or_default();

        let operator_codes = m
            .operator_codes()
            .map(|cs| cs.iter().enumerate().map(|(i, c)| opcode(i, c)).collect::<Result<Vec<_>, _>>())
            .transpose()?
            .unwrap_or_default();

        let subgraphs = m
            .subgraphs()
            .map(|sgs| sgs.iter().enumerate().map(|(i, s)| self.subgraph(i, s)).collect::<Result<Vec<_>, _>>())
            .transpose()?
            .unwrap_or_default();

        let metadata = m
            .metadata()
            .map(|ms| {
                ms.iter().map(|md| Metadata { name: md.name().map(str::to_string), buffer: md.buffer() }).collect()
            })
            .unwrap_or_default();

        let signature_defs = m.signature_defs().map(|sds| sds.iter().map(signature_def).collect()).unwrap_or_default();

        let model = Model {
            version: m.version(),
            description: m.description().map(str::to_string),
            operator_codes,
            subgraphs,
            buffers,
            metadata,
            signature_defs,
            metadata_buffer: vec_of(m.metadata_buffer()),
            external_buffer_groups: m.external_buffer_groups().map(|v| v.iter().map(|g| g.unpack()).collect()),
            external_buffers: m.external_buffers().map(|v| v.iter().map(|g| g.unpack()).collect()),
        };
        super::check::check(&model)?;
        Ok(model)
    }

    fn subgraph(&self, si: usize, s: fb::SubGraph<'_>) -> Result<Subgraph, ReadError> {
        let tensors = s
            .tensors()
            .map(|ts| ts.iter().enumerate().map(|(ti, t)| tensor(si, ti, t)).collect::<Result<Vec<_>, _>>())
            .transpose()?
            .unwrap_or_default();
        let inputs = vec_of(s.inputs()).unwrap_or_default();
        let outputs = vec_of(s.outputs()).unwrap_or_default();
        let operators = s
            .operators()
            .map(|ops| ops.iter().enumerate().map(|(oi, op)| self.operator(si, oi, op)).collect::<Result<Vec<_>, _>>())
            .transpose()?
            .unwrap_or_default();
        Ok(Subgraph {
            name: s.name().map(str::to_string),
            tensors,
            inputs,
            outputs,
            operators,
            debug_metadata_index: s.debug_metadata_index(),
        })
    }

    fn operator(&self, si: usize, oi: usize, op: fb::Operator<'_>) -> Result<Operator, ReadError> {
        let loc = || format!("subgraph {si}, operator {oi}");
        let inputs = vec_of(op.inputs()).unwrap_or_default();
        let outputs = vec_of(op.outputs()).unwrap_or_default();
        let intermediates = vec_of(op.intermediates());
        if !op.builtin_options_type().is_known() {
            return Err(ReadError::UnknownValue {
                location: loc(),
                what: "builtin_options type",
                value: op.builtin_options_type().0 as i64,
            });
        }
        if !op.builtin_options_2_type().is_known() {
            return Err(ReadError::UnknownValue {
                location: loc(),
                what: "builtin_options_2 type",
                value: op.builtin_options_2_type().0 as i64,
            });
        }
        let inline = op.custom_options().map(|d| Data::mapped(self.source, self.range_of(d.bytes())));
        let custom_options = match inline {
            Some(d) => Some(d),
            None => self.outside(loc, op.large_custom_options_offset(), op.large_custom_options_size())?,
        };
        Ok(Operator {
            opcode_index: op.opcode_index(),
            inputs,
            outputs,
            builtin_options: fb::BuiltinOptionsT::unpack_from(op.builtin_options_type(), op.builtin_options()),
            builtin_options_2: fb::BuiltinOptions2T::unpack_from(op.builtin_options_2_type(), op.builtin_options_2()),
            custom_options,
            custom_options_format: op.custom_options_format(),
            mutating_variable_inputs: vec_of(op.mutating_variable_inputs()),
            intermediates,
            debug_metadata_index: op.debug_metadata_index(),
        })
    }
}

fn opcode(i: usize, c: fb::OperatorCode<'_>) -> Result<OperatorCode, ReadError> {
    // Files from before the 4-byte field only set the deprecated byte; newer files set both.
    let code = (c.deprecated_builtin_code() as i32).max(c.builtin_code().0);
    let builtin = BuiltinOperator(code);
    if !builtin.is_known() {
        return Err(ReadError::UnknownValue {
            location: format!("operator code {i}"),
            what: "builtin operator",
            value: code as i64,
        });
    }
    Ok(OperatorCode { builtin, custom_code: c.custom_code().map(str::to_string), version: c.version() })
}

fn tensor(si: usize, ti: usize, t: fb::Tensor<'_>) -> Result<Tensor, ReadError> {
    let loc = || format!("subgraph {si}, tensor {ti}");
    if !t.type_().is_known() {
        return Err(ReadError::UnknownValue { location: loc(), what: "tensor type", value: t.type_().0 as i64 });
    }
    let quantization = match t.quantization() {
        None => None,
        Some(q) => {
            if !q.details_type().is_known() {
                return Err(ReadError::UnknownValue {
                    location: loc(),
                    what: "quantization details type",
                    value: q.details_type().0 as i64,
                });
            }
            Some(QuantParams {
                min: vec_of(q.min()),
                max: vec_of(q.max()),
                scale: vec_of(q.scale()),
                zero_point: vec_of(q.zero_point()),
                details: QuantizationDetailsT::unpack_from(q.details_type(), q.details()),
                quantized_dimension: q.quantized_dimension(),
            })
        }
    };
    Ok(Tensor {
        name: t.name().map(str::to_string),
        shape: vec_of(t.shape()),
        dtype: t.type_(),
        buffer: t.buffer(),
        quantization,
        is_variable: t.is_variable(),
        sparsity: t.sparsity().map(|s| sparsity(s, loc)).transpose()?,
        shape_signature: vec_of(t.shape_signature()),
        has_rank: t.has_rank(),
        variant_tensors: t.variant_tensors().map(|v| v.iter().map(|x| x.unpack()).collect()),
        external_buffer: t.external_buffer(),
    })
}

/// Unpacks sparsity parameters, rejecting index-vector unions of a type the schema does not define.
fn sparsity(s: fb::SparsityParameters<'_>, loc: impl Fn() -> String) -> Result<fb::SparsityParametersT, ReadError> {
    for dm in s.dim_metadata().iter().flatten() {
        for tag in [dm.array_segments_type(), dm.array_indices_type()] {
            if !tag.is_known() {
                return Err(ReadError::UnknownValue {
                    location: loc(),
                    what: "sparse index vector type",
                    value: tag.0 as i64,
                });
            }
        }
    }
    Ok(s.unpack())
}

fn signature_def(sd: fb::SignatureDef<'_>) -> SignatureDef {
    let maps = |v: Option<flatbuffers::Vector<'_, flatbuffers::ForwardsUOffset<fb::TensorMap<'_>>>>| {
        v.map(|v| {
            v.iter().map(|m| TensorMap { name: m.name().map(str::to_string), tensor_index: m.tensor_index() }).collect()
        })
        .unwrap_or_default()
    };
    SignatureDef {
        key: sd.signature_key().map(str::to_string),
        subgraph_index: sd.subgraph_index(),
        inputs: maps(sd.inputs()),
        outputs: maps(sd.outputs()),
    }
}
