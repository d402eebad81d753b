//! Writer: Model IR → `.tflite` bytes.
//!
//! Output is deterministic (same IR, same bytes). Buffer data is 16-byte
//! aligned and placed at the end of the flatbuffer in index order. A model
//! whose data would push the flatbuffer past 2 GiB is written with the data
//! after the flatbuffer (`Buffer.offset`/`size`), as TF does for large models.

use super::staged::Staged;
use crate::ir::{Data, Metadata, Model, Operator, OperatorCode, QuantParams, Subgraph, Tensor};
use crate::schema::{self as fb, BuiltinOperator};
use flatbuffers::{FlatBufferBuilder, WIPOffset};
use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The flatbuffer format's hard size limit.
const FLATBUFFER_LIMIT: u64 = (1 << 31) - 1;
/// Room kept for the non-data part of the flatbuffer when choosing the layout.
const STRUCTURE_MARGIN: u64 = 64 << 20;
/// Codes above this live only in the 4-byte `builtin_code`; the byte field holds this placeholder.
const PLACEHOLDER_FOR_GREATER_OP_CODES: i32 = 127;
const BUFFER_LOCATION: &str = "buffer_location";
const OUTSIDE_FLATBUFFERS: &[u8] = b"outside flatbuffers";

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("cannot write {path}: {err}")]
    Io { path: PathBuf, err: std::io::Error },
    #[error("invalid model: {0}")]
    Invalid(#[from] crate::ir::IndexError),
    /// The output gate refused the model: a bug in a pass (or an input it let through).
    #[error("internal error: the model to write is invalid: {0}")]
    Gate(String),
    #[error("the model's structure alone is {0} bytes, over the 2 GiB flatbuffer limit")]
    TooLarge(u64),
}

/// Where buffer data goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// Inside the flatbuffer, unless that would exceed 2 GiB.
    #[default]
    Auto,
    Inline,
    /// After the flatbuffer, referenced by `offset`/`size`.
    Outside,
}

#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    pub layout: Layout,
}

/// Serializes `model` to bytes.
pub fn write(model: &Model, opts: &WriteOptions) -> Result<Vec<u8>, WriteError> {
    gate(model)?;
    write_unchecked(model, opts)
}

/// [`write`] without the output gate (indices are still checked): for tests and tools that
/// make invalid files on purpose. Nothing that writes a user's output calls it.
#[doc(hidden)]
pub fn write_unchecked(model: &Model, opts: &WriteOptions) -> Result<Vec<u8>, WriteError> {
    let mut out = Vec::new();
    let pieces = Plan::new(model, opts)?;
    for p in pieces.pieces() {
        match p {
            Piece::Bytes(b) => out.extend_from_slice(b),
            Piece::Zeros(n) => out.resize(out.len() + n, 0),
            Piece::Data(d) => out.extend_from_slice(d.as_bytes()),
        }
    }
    Ok(out)
}

/// Writes `model` to `path` through a temporary file in the same directory,
/// renamed into place only on success: a failed run leaves no partial output.
pub fn save(model: &Model, path: &Path, opts: &WriteOptions) -> Result<(), WriteError> {
    let staged = save_staged(model, path, opts)?;
    staged.commit().map_err(|err| WriteError::Io { path: path.to_path_buf(), err })
}

/// Writes `model` to a temporary file beside `path`, for the caller to commit together
/// with its other outputs.
pub fn save_staged(model: &Model, path: &Path, opts: &WriteOptions) -> Result<Staged, WriteError> {
    let io = |err| WriteError::Io { path: path.to_path_buf(), err };
    gate(model)?;
    let plan = Plan::new(model, opts)?;
    let (staged, file) = Staged::create(path).map_err(io)?;
    let result = (|| {
        let mut w = BufWriter::with_capacity(1 << 20, file);
        for p in plan.pieces() {
            match p {
                Piece::Bytes(b) => w.write_all(b)?,
                Piece::Zeros(n) => w.write_all(&[0u8; 16][..n])?,
                Piece::Data(d) => match d.mapped_range() {
                    // Weights still in the input file go file-to-file in the kernel, as `cp` does.
                    Some((src, range)) if src.file().is_some() => {
                        w.flush()?;
                        copy_range(src.file().expect("checked"), range, w.get_mut())?;
                    }
                    _ => {
                        w.write_all(d.as_bytes())?;
                        release(d);
                    }
                },
            }
        }
        w.into_inner().map_err(|e| e.into_error()).map(drop)
    })();
    result.map_err(io)?;
    Ok(staged)
}

fn copy_range(from: &File, range: std::ops::Range<usize>, to: &mut File) -> std::io::Result<()> {
    let mut f = from;
    f.seek(SeekFrom::Start(range.start as u64))?;
    let want = range.len() as u64;
    if std::io::copy(&mut f.take(want), to)? != want {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the input file shrank while being read"));
    }
    Ok(())
}

/// One piece of the output file.
enum Piece<'m> {
    Bytes(&'m [u8]),
    Zeros(usize),
    Data(&'m Data),
}

/// The output gate, run on every model before a byte of it is written: the reader's checks
/// ([`check`](super::check::check)), so no file gets what tflq would not read back. A failure
/// is a bug in a pass (or an input it let through). Linear in the model's size.
pub fn gate(model: &Model) -> Result<(), WriteError> {
    super::check::check(model).map_err(|e| match e {
        super::check::ModelFault::Index(e) => WriteError::Invalid(e),
        e => WriteError::Gate(e.to_string()),
    })
}

/// The output as a sequence of pieces: the flatbuffer without its buffer data,
/// then the data, each payload referenced in place rather than copied.
struct Plan<'m> {
    /// The model actually written (with `buffer_location` metadata for the outside layout).
    owned: Option<Box<Model>>,
    model: &'m Model,
    head: Vec<u8>,
    /// For each payload in file order: padding before its length prefix (inline
    /// layout only), the prefix itself, and the buffer index.
    tail: Vec<(usize, Option<[u8; 4]>, usize)>,
}

impl<'m> Plan<'m> {
    fn new(model: &'m Model, opts: &WriteOptions) -> Result<Plan<'m>, WriteError> {
        model.validate()?;
        let data_bytes: u64 = model.buffers.iter().map(|b| b.data.len() as u64 + 16).sum();
        let outside = match opts.layout {
            Layout::Inline => false,
            Layout::Outside => true,
            Layout::Auto => needs_outside_layout(data_bytes),
        };
        if outside {
            Self::outside(model)
        } else {
            Self::inline(model)
        }
    }

    fn model(&self) -> &Model {
        self.owned.as_deref().unwrap_or(self.model)
    }

    fn pieces(&self) -> impl Iterator<Item = Piece<'_>> {
        let buffers = &self.model().buffers;
        std::iter::once(Piece::Bytes(&self.head[..])).chain(self.tail.iter().flat_map(move |(pad, prefix, i)| {
            [
                Some(Piece::Zeros(*pad)),
                prefix.as_ref().map(|p| Piece::Bytes(&p[..])),
                Some(Piece::Data(&buffers[*i].data)),
            ]
            .into_iter()
            .flatten()
        }))
    }

    /// Builds the flatbuffer with empty placeholder vectors for the buffer data
    /// (they sit at its end), then lays the real payloads out after the rest,
    /// 16-byte aligned, and points each `Buffer.data` field at its payload.
    fn inline(model: &'m Model) -> Result<Plan<'m>, WriteError> {
        let metadata = without_buffer_location(model);
        let mut fbb = FlatBufferBuilder::with_capacity(1 << 16);
        let root = Builder { fbb: &mut fbb, data_base: None }.model(model, &metadata);
        fbb.finish(root, Some(fb::FILE_IDENTIFIER));
        let skeleton = fbb.finished_data();
        // SAFETY: our own builder made these bytes; only the placeholder vectors'
        // contents are missing, and they are not read here.
        let view = unsafe { flatbuffers::root_unchecked::<fb::Model>(skeleton) };
        let mut fields = Vec::new(); // (placeholder position, field position, buffer index)
        if let Some(bufs) = view.buffers() {
            for i in 0..bufs.len() {
                let t = bufs.get(i)._tab;
                let slot = t.vtable().get(fb::Buffer::VT_DATA) as usize;
                if slot != 0 {
                    let field = t.loc() + slot;
                    let rel = u32::from_le_bytes(skeleton[field..field + 4].try_into().expect("4 bytes"));
                    fields.push((field + rel as usize, field, i));
                }
            }
        }
        fields.sort_unstable();
        let tail_start = fields.first().map_or(skeleton.len(), |f| f.0);
        let mut head = skeleton[..tail_start].to_vec();
        let mut tail = Vec::with_capacity(fields.len());
        let mut pos = tail_start as u64;
        for &(_, field, i) in &fields {
            let pad = ((16 - (pos + 4) % 16) % 16) as usize;
            let prefix_at = pos + pad as u64;
            let len = model.buffers[i].data.len() as u64;
            pos = prefix_at + 4 + len;
            if pos > FLATBUFFER_LIMIT {
                return Err(WriteError::TooLarge(pos));
            }
            head[field..field + 4].copy_from_slice(&((prefix_at - field as u64) as u32).to_le_bytes());
            tail.push((pad, Some((len as u32).to_le_bytes()), i));
        }
        Ok(Plan { owned: None, model, head, tail })
    }

    /// The flatbuffer, then every payload after it at a 16-byte aligned offset.
    /// Offsets are fixed-width, so a first build with base 0 gives the size.
    fn outside(model: &'m Model) -> Result<Plan<'m>, WriteError> {
        let (owned, metadata) = with_buffer_location(model);
        let build = |base: u64| {
            let mut fbb = FlatBufferBuilder::new();
            let root = Builder { fbb: &mut fbb, data_base: Some(base) }.model(&owned, &metadata);
            fbb.finish(root, Some(fb::FILE_IDENTIFIER));
            fbb.finished_data().to_vec()
        };
        let len = build(0).len() as u64;
        if len > FLATBUFFER_LIMIT {
            return Err(WriteError::TooLarge(len));
        }
        let head = build(align16(len));
        debug_assert_eq!(head.len() as u64, len);
        let mut tail = Vec::new();
        let mut pos = len;
        for (i, b) in owned.buffers.iter().enumerate() {
            if !b.data.is_empty() {
                let start = align16(pos);
                tail.push(((start - pos) as usize, None, i));
                pos = start + b.data.len() as u64;
            }
        }
        Ok(Plan { owned: Some(Box::new(owned)), model, head, tail })
    }
}

/// Whether data of this size (with alignment padding) must go after the flatbuffer.
pub fn needs_outside_layout(data_bytes: u64) -> bool {
    data_bytes + STRUCTURE_MARGIN > FLATBUFFER_LIMIT
}

fn align16(x: u64) -> u64 {
    x.div_ceil(16) * 16
}

/// Lets the input's pages go once copied, keeping peak memory near one model's size.
fn release(data: &Data) {
    if let Some((src, range)) = data.mapped_range() {
        src.release(range);
    }
}

fn without_buffer_location(model: &Model) -> Vec<Metadata> {
    model.metadata.iter().filter(|m| m.name.as_deref() != Some(BUFFER_LOCATION)).cloned().collect()
}

/// The model plus the `buffer_location` marker the runtime reads for the outside layout.
fn with_buffer_location(model: &Model) -> (Model, Vec<Metadata>) {
    let mut m = model.clone();
    let mut metadata = without_buffer_location(model);
    m.buffers.push(crate::ir::Buffer { data: Data::from(OUTSIDE_FLATBUFFERS.to_vec()) });
    metadata.push(Metadata { name: Some(BUFFER_LOCATION.into()), buffer: (m.buffers.len() - 1) as u32 });
    (m, metadata)
}

struct Builder<'f, 'b> {
    fbb: &'f mut FlatBufferBuilder<'b>,
    /// Set for the outside layout: the file offset where buffer data begins.
    data_base: Option<u64>,
}

type Off<T> = WIPOffset<T>;

impl<'b> Builder<'_, 'b> {
    fn ints(&mut self, v: &[i32]) -> Off<flatbuffers::Vector<'b, i32>> {
        self.fbb.create_vector(v)
    }

    fn opt_string(&mut self, s: &Option<String>) -> Option<Off<&'b str>> {
        s.as_ref().map(|s| self.fbb.create_string(s))
    }

    fn model(&mut self, m: &Model, metadata: &[Metadata]) -> Off<fb::Model<'b>> {
        // Data first, last buffer first: the builder works back to front, so
        // the data ends up at the end of the file in index order.
        let buffers = self.buffers(m);
        let operator_codes: Vec<_> = m.operator_codes.iter().map(|c| self.operator_code(c)).collect();
        let operator_codes = self.fbb.create_vector(&operator_codes);
        let subgraphs: Vec<_> = m.subgraphs.iter().map(|s| self.subgraph(s)).collect();
        let subgraphs = self.fbb.create_vector(&subgraphs);
        let description = self.opt_string(&m.description);
        let metadata_buffer = m.metadata_buffer.as_ref().map(|v| self.ints(v));
        let metadata: Vec<_> = metadata
            .iter()
            .map(|md| {
                let name = self.opt_string(&md.name);
                let start = self.fbb.start_table();
                if let Some(n) = name {
                    self.fbb.push_slot_always(fb::Metadata::VT_NAME, n);
                }
                self.fbb.push_slot::<u32>(fb::Metadata::VT_BUFFER, md.buffer, 0);
                WIPOffset::new(self.fbb.end_table(start).value())
            })
            .collect::<Vec<Off<fb::Metadata>>>();
        let metadata = (!metadata.is_empty()).then(|| self.fbb.create_vector(&metadata));
        let signature_defs: Vec<_> = m.signature_defs.iter().map(|sd| self.signature_def(sd)).collect();
        let signature_defs = self.fbb.create_vector(&signature_defs);
        let groups = m.external_buffer_groups.as_ref().map(|v| {
            let w: Vec<_> = v.iter().map(|g| g.pack(self.fbb)).collect();
            self.fbb.create_vector(&w)
        });
        let externals = m.external_buffers.as_ref().map(|v| {
            let w: Vec<_> = v.iter().map(|g| g.pack(self.fbb)).collect();
            self.fbb.create_vector(&w)
        });

        let start = self.fbb.start_table();
        self.fbb.push_slot::<u32>(fb::Model::VT_VERSION, m.version, 0);
        self.fbb.push_slot_always(fb::Model::VT_OPERATOR_CODES, operator_codes);
        self.fbb.push_slot_always(fb::Model::VT_SUBGRAPHS, subgraphs);
        if let Some(d) = description {
            self.fbb.push_slot_always(fb::Model::VT_DESCRIPTION, d);
        }
        self.fbb.push_slot_always(fb::Model::VT_BUFFERS, buffers);
        if let Some(v) = metadata_buffer {
            self.fbb.push_slot_always(fb::Model::VT_METADATA_BUFFER, v);
        }
        if let Some(v) = metadata {
            self.fbb.push_slot_always(fb::Model::VT_METADATA, v);
        }
        if !m.signature_defs.is_empty() {
            self.fbb.push_slot_always(fb::Model::VT_SIGNATURE_DEFS, signature_defs);
        }
        if let Some(v) = groups {
            self.fbb.push_slot_always(fb::Model::VT_EXTERNAL_BUFFER_GROUPS, v);
        }
        if let Some(v) = externals {
            self.fbb.push_slot_always(fb::Model::VT_EXTERNAL_BUFFERS, v);
        }
        WIPOffset::new(self.fbb.end_table(start).value())
    }

    fn buffers(&mut self, m: &Model) -> Off<flatbuffers::Vector<'b, flatbuffers::ForwardsUOffset<fb::Buffer<'b>>>> {
        let n = m.buffers.len();
        let mut tables = vec![None; n];
        match self.data_base {
            None => {
                // Placeholders only: Plan::inline lays out the payloads.
                let mut data = vec![None; n];
                for i in (0..n).rev() {
                    let len = m.buffers[i].data.len();
                    if len > 0 {
                        self.fbb.start_vector::<u8>(0);
                        data[i] = Some(self.fbb.end_vector::<u8>(len));
                    }
                }
                for i in 0..n {
                    let start = self.fbb.start_table();
                    if let Some(d) = data[i] {
                        self.fbb.push_slot_always(fb::Buffer::VT_DATA, d);
                    }
                    tables[i] = Some(WIPOffset::new(self.fbb.end_table(start).value()));
                }
            }
            Some(base) => {
                let mut pos = base;
                for (i, b) in m.buffers.iter().enumerate() {
                    let start = self.fbb.start_table();
                    if !b.data.is_empty() {
                        pos = align16(pos);
                        self.fbb.push_slot_always::<u64>(fb::Buffer::VT_OFFSET, pos);
                        self.fbb.push_slot_always::<u64>(fb::Buffer::VT_SIZE, b.data.len() as u64);
                        pos += b.data.len() as u64;
                    }
                    tables[i] = Some(WIPOffset::new(self.fbb.end_table(start).value()));
                }
            }
        }
        let tables: Vec<Off<fb::Buffer>> = tables.into_iter().map(|t| t.expect("every buffer has a table")).collect();
        self.fbb.create_vector(&tables)
    }

    fn operator_code(&mut self, c: &OperatorCode) -> Off<fb::OperatorCode<'b>> {
        let custom = self.opt_string(&c.custom_code);
        let code = c.builtin.0;
        let deprecated = code.min(PLACEHOLDER_FOR_GREATER_OP_CODES) as i8;
        let start = self.fbb.start_table();
        if let Some(s) = custom {
            self.fbb.push_slot_always(fb::OperatorCode::VT_CUSTOM_CODE, s);
        }
        self.fbb.push_slot::<i32>(fb::OperatorCode::VT_VERSION, c.version, 1);
        self.fbb.push_slot::<BuiltinOperator>(fb::OperatorCode::VT_BUILTIN_CODE, c.builtin, BuiltinOperator(0));
        self.fbb.push_slot::<i8>(fb::OperatorCode::VT_DEPRECATED_BUILTIN_CODE, deprecated, 0);
        WIPOffset::new(self.fbb.end_table(start).value())
    }

    fn subgraph(&mut self, s: &Subgraph) -> Off<fb::SubGraph<'b>> {
        let tensors: Vec<_> = s.tensors.iter().map(|t| self.tensor(t)).collect();
        let tensors = self.fbb.create_vector(&tensors);
        let inputs = self.ints(&s.inputs);
        let outputs = self.ints(&s.outputs);
        let operators: Vec<_> = s.operators.iter().map(|o| self.operator(o)).collect();
        let operators = self.fbb.create_vector(&operators);
        let name = self.opt_string(&s.name);
        let start = self.fbb.start_table();
        self.fbb.push_slot_always(fb::SubGraph::VT_TENSORS, tensors);
        self.fbb.push_slot_always(fb::SubGraph::VT_INPUTS, inputs);
        self.fbb.push_slot_always(fb::SubGraph::VT_OUTPUTS, outputs);
        self.fbb.push_slot_always(fb::SubGraph::VT_OPERATORS, operators);
        if let Some(n) = name {
            self.fbb.push_slot_always(fb::SubGraph::VT_NAME, n);
        }
        self.fbb.push_slot::<i32>(fb::SubGraph::VT_DEBUG_METADATA_INDEX, s.debug_metadata_index, -1);
        WIPOffset::new(self.fbb.end_table(start).value())
    }

    fn quantization(&mut self, q: &QuantParams) -> Off<fb::QuantizationParameters<'b>> {
        fb::QuantizationParametersT {
            min: q.min.clone(),
            max: q.max.clone(),
            scale: q.scale.clone(),
            zero_point: q.zero_point.clone(),
            details: q.details.clone(),
            quantized_dimension: q.quantized_dimension,
        }
        .pack(self.fbb)
    }

    fn tensor(&mut self, t: &Tensor) -> Off<fb::Tensor<'b>> {
        let shape = t.shape.as_ref().map(|v| self.ints(v));
        let name = self.opt_string(&t.name);
        let quantization = t.quantization.as_ref().map(|q| self.quantization(q));
        let sparsity = t.sparsity.as_ref().map(|s| s.pack(self.fbb));
        let shape_signature = t.shape_signature.as_ref().map(|v| self.ints(v));
        let variants = t.variant_tensors.as_ref().map(|v| {
            let w: Vec<_> = v.iter().map(|x| x.pack(self.fbb)).collect();
            self.fbb.create_vector(&w)
        });
        let start = self.fbb.start_table();
        if let Some(v) = shape {
            self.fbb.push_slot_always(fb::Tensor::VT_SHAPE, v);
        }
        self.fbb.push_slot::<u32>(fb::Tensor::VT_BUFFER, t.buffer, 0);
        if let Some(v) = name {
            self.fbb.push_slot_always(fb::Tensor::VT_NAME, v);
        }
        if let Some(v) = quantization {
            self.fbb.push_slot_always(fb::Tensor::VT_QUANTIZATION, v);
        }
        if let Some(v) = sparsity {
            self.fbb.push_slot_always(fb::Tensor::VT_SPARSITY, v);
        }
        if let Some(v) = shape_signature {
            self.fbb.push_slot_always(fb::Tensor::VT_SHAPE_SIGNATURE, v);
        }
        if let Some(v) = variants {
            self.fbb.push_slot_always(fb::Tensor::VT_VARIANT_TENSORS, v);
        }
        self.fbb.push_slot::<u32>(fb::Tensor::VT_EXTERNAL_BUFFER, t.external_buffer, 0);
        self.fbb.push_slot::<fb::TensorType>(fb::Tensor::VT_TYPE, t.dtype, fb::TensorType(0));
        self.fbb.push_slot::<bool>(fb::Tensor::VT_IS_VARIABLE, t.is_variable, false);
        self.fbb.push_slot::<bool>(fb::Tensor::VT_HAS_RANK, t.has_rank, false);
        WIPOffset::new(self.fbb.end_table(start).value())
    }

    fn operator(&mut self, o: &Operator) -> Off<fb::Operator<'b>> {
        let inputs = self.ints(&o.inputs);
        let outputs = self.ints(&o.outputs);
        let options = o.builtin_options.pack(self.fbb);
        let options_2 = o.builtin_options_2.pack(self.fbb);
        let custom = o.custom_options.as_ref().map(|d| self.fbb.create_vector(d.as_bytes()));
        let mutating = o.mutating_variable_inputs.as_ref().map(|v| self.fbb.create_vector(v));
        let intermediates = o.intermediates.as_ref().map(|v| self.ints(v));
        let start = self.fbb.start_table();
        self.fbb.push_slot::<u32>(fb::Operator::VT_OPCODE_INDEX, o.opcode_index, 0);
        self.fbb.push_slot_always(fb::Operator::VT_INPUTS, inputs);
        self.fbb.push_slot_always(fb::Operator::VT_OUTPUTS, outputs);
        if let Some(v) = options {
            self.fbb.push_slot_always(fb::Operator::VT_BUILTIN_OPTIONS, v);
        }
        if let Some(v) = custom {
            self.fbb.push_slot_always(fb::Operator::VT_CUSTOM_OPTIONS, v);
        }
        if let Some(v) = mutating {
            self.fbb.push_slot_always(fb::Operator::VT_MUTATING_VARIABLE_INPUTS, v);
        }
        if let Some(v) = intermediates {
            self.fbb.push_slot_always(fb::Operator::VT_INTERMEDIATES, v);
        }
        if let Some(v) = options_2 {
            self.fbb.push_slot_always(fb::Operator::VT_BUILTIN_OPTIONS_2, v);
        }
        self.fbb.push_slot::<i32>(fb::Operator::VT_DEBUG_METADATA_INDEX, o.debug_metadata_index, -1);
        self.fbb.push_slot::<fb::BuiltinOptions>(
            fb::Operator::VT_BUILTIN_OPTIONS_TYPE,
            o.builtin_options.union_type(),
            fb::BuiltinOptions::NONE,
        );
        self.fbb.push_slot::<fb::CustomOptionsFormat>(
            fb::Operator::VT_CUSTOM_OPTIONS_FORMAT,
            o.custom_options_format,
            fb::CustomOptionsFormat(0),
        );
        self.fbb.push_slot::<fb::BuiltinOptions2>(
            fb::Operator::VT_BUILTIN_OPTIONS_2_TYPE,
            o.builtin_options_2.union_type(),
            fb::BuiltinOptions2::NONE,
        );
        WIPOffset::new(self.fbb.end_table(start).value())
    }

    fn signature_def(&mut self, sd: &crate::ir::SignatureDef) -> Off<fb::SignatureDef<'b>> {
        let mut maps = |list: &[crate::ir::TensorMap]| {
            let w: Vec<Off<fb::TensorMap>> = list
                .iter()
                .map(|m| {
                    let name = self.opt_string(&m.name);
                    let start = self.fbb.start_table();
                    if let Some(n) = name {
                        self.fbb.push_slot_always(fb::TensorMap::VT_NAME, n);
                    }
                    self.fbb.push_slot::<u32>(fb::TensorMap::VT_TENSOR_INDEX, m.tensor_index, 0);
                    WIPOffset::new(self.fbb.end_table(start).value())
                })
                .collect();
            self.fbb.create_vector(&w)
        };
        let inputs = maps(&sd.inputs);
        let outputs = maps(&sd.outputs);
        let key = self.opt_string(&sd.key);
        let start = self.fbb.start_table();
        self.fbb.push_slot_always(fb::SignatureDef::VT_INPUTS, inputs);
        self.fbb.push_slot_always(fb::SignatureDef::VT_OUTPUTS, outputs);
        if let Some(k) = key {
            self.fbb.push_slot_always(fb::SignatureDef::VT_SIGNATURE_KEY, k);
        }
        self.fbb.push_slot::<u32>(fb::SignatureDef::VT_SUBGRAPH_INDEX, sd.subgraph_index, 0);
        WIPOffset::new(self.fbb.end_table(start).value())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_switches_only_near_the_flatbuffer_limit() {
        assert!(!needs_outside_layout(100 << 20));
        assert!(!needs_outside_layout(1900 << 20));
        assert!(needs_outside_layout(2040 << 20));
        assert!(needs_outside_layout(5 << 30));
    }
}
