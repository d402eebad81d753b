//! SavedModel directory → Model IR, with no TensorFlow.
//!
//! `saved_model.pb` gives the MetaGraph and its signatures, the TensorBundle
//! in `variables/` ([`bundle`]) the variable values. One signature is frozen
//! into a plain GraphDef ([`freeze`]): variables become constants (views of
//! the mapped data shards), calls are inlined. The GraphDef importer then
//! lowers it, and the result carries the SavedModel's signature keys and
//! TF's tensor names.

pub mod bundle;
pub mod freeze;
pub mod proto;
mod table;

use crate::graphdef::{self, ImportError, ImportOptions};
use crate::ir::Model;
use bundle::{Bundle, BundleError};
use freeze::{VarValue, Variables};
use proto::{MetaGraphDef, SavedModel, TrackableObjectGraph};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// The signature TF serves by default.
pub const DEFAULT_SIGNATURE: &str = "serving_default";
/// Not a model signature: it runs table and asset initialisers.
const INIT_SIGNATURE: &str = "__saved_model_init_op";
/// The checkpoint entry holding the TrackableObjectGraph.
const OBJECT_GRAPH_KEY: &str = "_CHECKPOINTABLE_OBJECT_GRAPH";
/// Longest name or list shown in a message.
const MAX_SHOWN: usize = 120;

#[derive(Debug, Clone)]
pub struct SavedModelOptions {
    /// Tags of the MetaGraph to load, matched as a set.
    pub tags: Vec<String>,
    pub signature: String,
    /// Passed on to the GraphDef importer (input shapes for dynamic dims).
    pub import: ImportOptions,
}

impl Default for SavedModelOptions {
    fn default() -> Self {
        SavedModelOptions {
            tags: vec!["serve".into()],
            signature: DEFAULT_SIGNATURE.into(),
            import: ImportOptions::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SavedModelError {
    #[error("{}: not a SavedModel directory (no saved_model.pb): export one with `model.export(dir)` or `tf.saved_model.save(obj, dir)` and pass the directory", .0.display())]
    NotSavedModel(PathBuf),
    #[error("{}: cannot read: {reason}", path.display())]
    Io { path: PathBuf, reason: String },
    #[error("{}: only the binary saved_model.pb is supported; re-save the model, or convert the text form with TF's `text_format`", .0.display())]
    TextFormat(PathBuf),
    #[error("{}: not a valid SavedModel proto: {reason}", path.display())]
    Decode { path: PathBuf, reason: String },
    #[error("no MetaGraph has the tags {wanted}; the SavedModel has {available} (choose with --saved-model-tags)")]
    NoMetaGraph { wanted: String, available: String },
    #[error("the MetaGraph has no graph")]
    NoGraph,
    #[error("no signature {wanted:?}; the SavedModel has {available} (choose with --signature-key)")]
    UnknownSignature { wanted: String, available: String },
    #[error("signature input or output {0:?} is sparse or composite, which TFLite cannot take")]
    SparseInput(String),
    #[error("{what} {name:?} is not in the graph")]
    MissingNode { what: &'static str, name: String },
    #[error("call {node:?} names function {function:?}, which the library does not hold")]
    UnknownFunction { node: String, function: String },
    #[error("the function library is cyclic: {0:?} calls itself")]
    CyclicFunction(String),
    #[error("node {node:?} ({op}) changes a variable: only models that read their variables can be frozen")]
    MutableVariable { node: String, op: String },
    #[error("variable {node:?} has no value in the checkpoint{}", if key.is_empty() { String::new() } else { format!(" (key {key:?})") })]
    MissingVariable { node: String, key: String },
    #[error("variable {node:?}: {msg}")]
    VariableMismatch { node: String, msg: String },
    #[error("the model uses a captured {kind} ({node:?}), such as a lookup table or asset, which TFLite builtins cannot hold")]
    UnsupportedCapture { kind: &'static str, node: String },
    #[error("TF1 control flow ({0}): re-export the model with TF2 control flow (`tf.compat.v1.enable_control_flow_v2()` before building it, or a TF2 SavedModel)")]
    Tf1ControlFlow(String),
    #[error("the variables checkpoint: {0}")]
    Bundle(#[from] BundleError),
    #[error("{0}")]
    Graph(String),
    #[error(transparent)]
    Import(#[from] ImportError),
}

/// `s`, shortened for a one-line message.
pub(crate) fn cap(s: &str) -> String {
    if s.len() <= MAX_SHOWN {
        return s.to_string();
    }
    let mut end = MAX_SHOWN;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &s[..end], s.len())
}

fn list(items: impl IntoIterator<Item = String>) -> String {
    let v: Vec<String> = items.into_iter().collect();
    if v.is_empty() {
        return "none".into();
    }
    cap(&v.join(", "))
}

/// Whether `dir` looks like a SavedModel directory.
pub fn is_saved_model_dir(dir: &Path) -> bool {
    dir.is_dir() && (dir.join("saved_model.pb").is_file() || dir.join("saved_model.pbtxt").is_file())
}

/// Reads and freezes one signature of the SavedModel in `dir`, returning the model and the
/// importer's warnings.
pub fn import_dir(dir: &Path, opts: &SavedModelOptions) -> Result<(Model, Vec<String>), SavedModelError> {
    let pb = dir.join("saved_model.pb");
    if !pb.is_file() {
        if dir.join("saved_model.pbtxt").is_file() {
            return Err(SavedModelError::TextFormat(dir.join("saved_model.pbtxt")));
        }
        return Err(SavedModelError::NotSavedModel(dir.to_path_buf()));
    }
    if let Some(kind) = crate::ir::special_file(&pb) {
        return Err(SavedModelError::Io { path: pb, reason: kind.to_string() });
    }
    let bytes = std::fs::read(&pb).map_err(|e| SavedModelError::Io { path: pb.clone(), reason: e.to_string() })?;
    let prefix = dir.join("variables").join("variables");
    let has_vars = prefix.with_extension("index").exists();
    let bundle = if has_vars { Some(Bundle::open(&prefix)?) } else { None };
    import_parts(&pb, &bytes, bundle.as_ref(), opts)
}

/// Imports a SavedModel from its `saved_model.pb` bytes and its opened checkpoint (`path`
/// only names the file in messages): the in-memory form of [`import_dir`], for fuzzing.
pub fn import_parts(
    path: &Path,
    saved_model_pb: &[u8],
    bundle: Option<&Bundle>,
    opts: &SavedModelOptions,
) -> Result<(Model, Vec<String>), SavedModelError> {
    let sm: SavedModel = prost::Message::decode(saved_model_pb).map_err(|e| SavedModelError::Decode {
        path: path.to_path_buf(),
        reason: graphdef::proto::decode_reason(&e),
    })?;
    let meta = pick_meta_graph(&sm, &opts.tags)?;
    if !meta.signature_def.contains_key(&opts.signature) {
        return Err(SavedModelError::UnknownSignature {
            wanted: cap(&opts.signature),
            available: list(meta.signature_def.keys().filter(|k| *k != INIT_SIGNATURE).map(|k| format!("{k:?}"))),
        });
    }
    let vars = Checkpoint::new(meta, bundle)?;
    // The walk recurses once per producer: a thread with a stack sized for MAX_NODE_DEPTH.
    let frozen = std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(1 << 30)
            .spawn_scoped(s, || freeze::freeze(meta, &opts.signature, &vars))
            .map_err(|e| SavedModelError::Graph(format!("cannot start the freezer: {e}")))?
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })?;
    let mut import = opts.import.clone();
    import.input_arrays = Some(frozen.inputs.iter().map(|(_, n)| n.clone()).collect());
    import.output_arrays = Some(frozen.outputs.iter().map(|(_, n)| n.clone()).collect());
    let (mut model, warnings) = graphdef::import_graph(&frozen.graph, &import)?;
    let sig = &meta.signature_def[&opts.signature];
    name_like_tf(&mut model, &opts.signature, sig, &frozen);
    Ok((model, warnings))
}

fn pick_meta_graph<'a>(sm: &'a SavedModel, tags: &[String]) -> Result<&'a MetaGraphDef, SavedModelError> {
    let wanted: BTreeSet<&str> = tags.iter().map(String::as_str).collect();
    let tags_of = |m: &'a MetaGraphDef| -> BTreeSet<&'a str> {
        m.meta_info_def.iter().flat_map(|i| &i.tags).map(String::as_str).collect()
    };
    sm.meta_graphs.iter().find(|m| tags_of(m) == wanted).ok_or_else(|| SavedModelError::NoMetaGraph {
        wanted: format!("{:?}", wanted.iter().collect::<Vec<_>>()),
        available: list(sm.meta_graphs.iter().map(|m| format!("{:?}", tags_of(m).into_iter().collect::<Vec<_>>()))),
    })
}

/// Input and output tensors get TF's names (`serving_default_x:0`, `StatefulPartitionedCall:0`)
/// and the signature the SavedModel's keys.
fn name_like_tf(model: &mut Model, key: &str, sig: &proto::SignatureDef, frozen: &freeze::Frozen) {
    let Some(sd) = model.signature_defs.first_mut() else { return };
    sd.key = Some(key.to_string());
    let sg = &mut model.subgraphs[0];
    for (map, (k, _)) in sd.inputs.iter_mut().zip(&frozen.inputs) {
        map.name = Some(k.clone());
        if let Some(t) = sg.tensors.get_mut(map.tensor_index as usize) {
            t.name = Some(sig.inputs[k].name.clone());
        }
    }
    for (map, (k, _)) in sd.outputs.iter_mut().zip(&frozen.outputs) {
        map.name = Some(k.clone());
        if let Some(t) = sg.tensors.get_mut(map.tensor_index as usize) {
            t.name = Some(sig.outputs[k].name.clone());
        }
    }
}

/// Variable values from the checkpoint, bound to main-graph variable nodes.
struct Checkpoint<'b> {
    bundle: Option<&'b Bundle>,
    /// Main-graph variable node → checkpoint key.
    keys: HashMap<String, String>,
}

impl<'b> Checkpoint<'b> {
    fn new(meta: &MetaGraphDef, bundle: Option<&'b Bundle>) -> Result<Checkpoint<'b>, SavedModelError> {
        let mut keys = HashMap::new();
        if let Some(b) = bundle {
            tf1_saver_keys(meta, &mut keys);
            if b.entry(OBJECT_GRAPH_KEY).is_some() {
                tf2_capture_keys(meta, b, &mut keys)?;
            }
        }
        Ok(Checkpoint { bundle, keys })
    }
}

impl Variables for Checkpoint<'_> {
    fn value(&self, node: &str) -> Result<VarValue, SavedModelError> {
        let key = self.keys.get(node).map(String::as_str).unwrap_or(node);
        let missing = || SavedModelError::MissingVariable { node: cap(node), key: cap(key) };
        let b = self.bundle.ok_or_else(missing)?;
        let e = b.entry(key).ok_or_else(missing)?;
        let (dtype, shape) = (e.dtype, e.shape.clone());
        let data = b.tensor(key)?;
        Ok(VarValue { dtype, shape, data })
    }
}

/// TF2: the serving call nodes' trailing inputs are the captures named by the object graph's
/// `bound_inputs`; a captured variable object's checkpoint key comes from walking the
/// checkpoint's object graph beside the SavedModel's, by child name.
fn tf2_capture_keys(
    meta: &MetaGraphDef,
    b: &Bundle,
    keys: &mut HashMap<String, String>,
) -> Result<(), SavedModelError> {
    let Some(saved) = meta.object_graph_def.as_ref() else { return Ok(()) };
    let Some(graph) = meta.graph_def.as_ref() else { return Ok(()) };
    let raw = b.strings(OBJECT_GRAPH_KEY)?;
    let Some(first) = raw.first() else { return Ok(()) };
    let ckpt: TrackableObjectGraph = prost::Message::decode(first.as_slice())
        .map_err(|e| SavedModelError::Graph(format!("the checkpoint's object graph is corrupt: {e}")))?;
    // saved object id → checkpoint object id, matched by path from the roots.
    let mut to_ckpt: HashMap<usize, usize> = HashMap::new();
    let mut seen = vec![false; ckpt.nodes.len()];
    let mut stack = vec![(0usize, 0usize)];
    while let Some((s, c)) = stack.pop() {
        if c >= ckpt.nodes.len() || s >= saved.nodes.len() || std::mem::replace(&mut seen[c], true) {
            continue;
        }
        to_ckpt.insert(s, c);
        for child in &ckpt.nodes[c].children {
            if let Some(sc) = saved.nodes[s].children.iter().find(|r| r.local_name == child.local_name) {
                stack.push((sc.node_id.max(0) as usize, child.node_id.max(0) as usize));
            }
        }
    }
    let key_of = |s: usize| -> Option<String> {
        let c = *to_ckpt.get(&s)?;
        ckpt.nodes[c].attributes.iter().find(|a| a.name == "VARIABLE_VALUE").map(|a| a.checkpoint_key.clone())
    };
    for n in &graph.node {
        if !matches!(n.op.as_str(), "StatefulPartitionedCall" | "PartitionedCall") {
            continue;
        }
        let Some(crate::graphdef::proto::attr_value::Value::Func(f)) = n.attr.get("f").and_then(|a| a.value.as_ref())
        else {
            continue;
        };
        let Some(cf) = saved.concrete_functions.get(&f.name) else { continue };
        let data: Vec<&str> = n.input.iter().filter(|s| !s.starts_with('^')).map(String::as_str).collect();
        if cf.bound_inputs.len() > data.len() {
            continue;
        }
        let caps = &data[data.len() - cf.bound_inputs.len()..];
        for (inp, &id) in caps.iter().zip(&cf.bound_inputs) {
            let node = graphdef::parse_edge(inp).0.to_string();
            let Some(obj) = usize::try_from(id).ok().and_then(|i| saved.nodes.get(i)) else { continue };
            if obj.variable.is_some() {
                if let Some(k) = key_of(id as usize) {
                    keys.insert(node, k);
                }
            } else if obj.asset.is_some() {
                keys.insert(node.clone(), String::new());
                return Err(SavedModelError::UnsupportedCapture { kind: "asset", node: cap(&node) });
            }
        }
    }
    Ok(())
}

/// TF1: `save/RestoreV2`'s `tensor_names` lists keys; the `Assign`/`AssignVariableOp` that
/// takes output i names the variable restored from key i.
fn tf1_saver_keys(meta: &MetaGraphDef, keys: &mut HashMap<String, String>) {
    use crate::graphdef::proto::attr_value::Value;
    let Some(graph) = meta.graph_def.as_ref() else { return };
    let by_name: HashMap<&str, &crate::graphdef::proto::NodeDef> =
        graph.node.iter().map(|n| (n.name.as_str(), n)).collect();
    let mut restore_keys: HashMap<&str, Vec<String>> = HashMap::new();
    for n in graph.node.iter().filter(|n| n.op == "RestoreV2") {
        let Some(names) = n.input.get(1).and_then(|i| by_name.get(graphdef::parse_edge(i).0)) else { continue };
        if let Some(Value::Tensor(t)) = names.attr.get("value").and_then(|a| a.value.as_ref()) {
            restore_keys.insert(
                n.name.as_str(),
                t.string_val.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect(),
            );
        }
    }
    if restore_keys.is_empty() {
        return;
    }
    for n in graph.node.iter().filter(|n| matches!(n.op.as_str(), "Assign" | "AssignVariableOp")) {
        let (Some(var), Some(val)) = (n.input.first(), n.input.get(1)) else { continue };
        // Follow Identity hops back to the RestoreV2 output.
        let mut cur = graphdef::parse_edge(val);
        for _ in 0..8 {
            match by_name.get(cur.0) {
                Some(p) if p.op == "Identity" && !p.input.is_empty() => cur = graphdef::parse_edge(&p.input[0]),
                _ => break,
            }
        }
        if let Some(k) = restore_keys.get(cur.0).and_then(|ks| ks.get(cur.1)) {
            keys.insert(graphdef::parse_edge(var).0.to_string(), k.clone());
        }
    }
}
