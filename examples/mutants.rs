//! Writes structured corruptions of a `.tflite` model for `scripts/mutate.py`: each one
//! changes one field the way a broken producer or a hostile file would (shapes, types,
//! operand indices, opcodes, options, buffers, quantization, signatures), and is written
//! without tflq's output gate, so that the file carries the fault as it is.
//!
//! ```sh
//! cargo run --release --example mutants -- MODEL.tflite OUTDIR [--seed N]
//! ```
//!
//! Writes `OUTDIR/STEM.NNNN.tflite` and prints one line per file: `PATH<TAB>WHAT`.
//! Cases are chosen by a seeded generator, so a seed names the same files on every run.

use std::path::PathBuf;
use std::sync::Arc;
use tflq::ir::{Data, Model, QuantParams, Source};
use tflq::schema::{BuiltinOperator, BuiltinOptionsT, TensorType};
use tflq::tflite::writer::write_unchecked;
use tflq::tflite::{read, WriteOptions};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64: small, seedable, good enough to pick cases.
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

type Edit = Box<dyn Fn(&mut Model)>;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let (Some(model_path), Some(out_dir)) = (args.next(), args.next()) else {
        return Err("usage: mutants MODEL.tflite OUTDIR [--seed N]".into());
    };
    let mut seed = 1u64;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seed" => seed = args.next().and_then(|s| s.parse().ok()).ok_or("--seed takes a number")?,
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    let bytes = std::fs::read(&model_path).map_err(|e| format!("{model_path}: {e}"))?;
    let model = read(Arc::new(Source::Owned(bytes))).map_err(|e| format!("{model_path}: {e}"))?;
    let stem = PathBuf::from(&model_path).file_stem().unwrap_or_default().to_string_lossy().into_owned();
    let out_dir = PathBuf::from(out_dir);
    std::fs::create_dir_all(&out_dir).map_err(|e| e.to_string())?;
    let mut rng =
        Rng(seed ^ stem.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3)));
    let mut n = 0;
    for (what, edit) in cases(&model, &mut rng) {
        let mut m = model.clone();
        edit(&mut m);
        let Ok(bytes) = write_unchecked(&m, &WriteOptions::default()) else { continue };
        let path = out_dir.join(format!("{stem}.{n:04}.tflite"));
        std::fs::write(&path, bytes).map_err(|e| e.to_string())?;
        println!("{}\t{what}", path.display());
        n += 1;
    }
    Ok(())
}

/// Tensors worth corrupting: a graph input, an activation, a constant (weights) and an
/// output of the main subgraph, when the model has them.
fn roles(model: &Model) -> Vec<(&'static str, usize)> {
    let sg = &model.subgraphs[0];
    let mut out = Vec::new();
    if let Some(&i) = sg.inputs.first() {
        out.push(("input", i as usize));
    }
    if let Some(&o) = sg.outputs.first() {
        out.push(("output", o as usize));
    }
    let is_const = |t: usize| {
        let b = sg.tensors[t].buffer as usize;
        b != 0 && model.buffers.get(b).is_some_and(|b| !b.data.as_bytes().is_empty())
    };
    let consts: Vec<usize> = (0..sg.tensors.len()).filter(|&t| is_const(t)).collect();
    if let Some(&w) = consts.iter().max_by_key(|&&t| model.buffers[sg.tensors[t].buffer as usize].data.as_bytes().len())
    {
        out.push(("weights", w));
    }
    if let Some(&c) = consts.iter().min_by_key(|&&t| model.buffers[sg.tensors[t].buffer as usize].data.as_bytes().len())
    {
        out.push(("small constant", c));
    }
    let acts: Vec<usize> =
        sg.operators.iter().flat_map(|o| o.outputs.iter().copied()).filter(|&t| t >= 0).map(|t| t as usize).collect();
    if !acts.is_empty() {
        out.push(("activation", acts[acts.len() / 2]));
    }
    out.retain(|&(_, t)| t < sg.tensors.len());
    out
}

fn cases(model: &Model, rng: &mut Rng) -> Vec<(String, Edit)> {
    let mut out: Vec<(String, Edit)> = Vec::new();
    let sg = &model.subgraphs[0];
    let nt = sg.tensors.len() as i32;
    let nops = sg.operators.len();
    let mut push = |what: String, f: Edit| out.push((what, f));

    // Shapes and types of the tensors that matter.
    for (role, t) in roles(model) {
        let rank = sg.tensors[t].shape.as_ref().map_or(0, Vec::len);
        let axis = rng.below(rank.max(1));
        for d in [i32::MAX, 1 << 20, 46341, 0, -1, -7] {
            push(
                format!("{role} tensor {t} dim {axis} = {d}"),
                Box::new(move |m| {
                    if let Some(s) = m.subgraphs[0].tensors[t].shape.as_mut() {
                        if let Some(x) = s.get_mut(axis) {
                            *x = d;
                        } else {
                            s.push(d);
                        }
                    }
                }),
            );
        }
        push(
            format!("{role} tensor {t} rank 9"),
            Box::new(move |m| m.subgraphs[0].tensors[t].shape = Some(vec![1; 9])),
        );
        push(
            format!("{role} tensor {t} 65536 dims of 1"),
            Box::new(move |m| m.subgraphs[0].tensors[t].shape = Some(vec![1; 65536])),
        );
        push(format!("{role} tensor {t} no shape"), Box::new(move |m| m.subgraphs[0].tensors[t].shape = None));
        push(format!("{role} tensor {t} scalar"), Box::new(move |m| m.subgraphs[0].tensors[t].shape = Some(vec![])));
        for (name, ty) in [
            ("INT32", TensorType::INT32),
            ("UINT8", TensorType::UINT8),
            ("INT8", TensorType::INT8),
            ("FLOAT16", TensorType::FLOAT16),
            ("INT64", TensorType::INT64),
            ("BOOL", TensorType::BOOL),
            ("STRING", TensorType::STRING),
            ("INT4", TensorType::INT4),
            ("unknown 99", TensorType(99)),
        ] {
            push(format!("{role} tensor {t} type {name}"), Box::new(move |m| m.subgraphs[0].tensors[t].dtype = ty));
        }
        for (name, q) in bad_quant() {
            push(
                format!("{role} tensor {t} quantization {name}"),
                Box::new(move |m| m.subgraphs[0].tensors[t].quantization = Some(q.clone())),
            );
        }
        push(
            format!("{role} tensor {t} buffer out of range"),
            Box::new(move |m| m.subgraphs[0].tensors[t].buffer = m.buffers.len() as u32 + 3),
        );
        push(
            format!("{role} tensor {t} buffer of another tensor"),
            Box::new(move |m| {
                let other = m.subgraphs[0].tensors.iter().map(|x| x.buffer).filter(|&b| b != 0).max().unwrap_or(0);
                m.subgraphs[0].tensors[t].buffer = other;
            }),
        );
        push(format!("{role} tensor {t} variable"), Box::new(move |m| m.subgraphs[0].tensors[t].is_variable = true));
    }

    // Constant data: wrong length, non-finite and extreme values.
    for (role, t) in roles(model) {
        let b = sg.tensors[t].buffer as usize;
        if b == 0 || !model.buffers.get(b).is_some_and(|b| !b.data.as_bytes().is_empty()) {
            continue;
        }
        push(
            format!("{role} tensor {t} data one byte short"),
            Box::new(move |m| {
                let mut d = m.buffers[b].data.as_bytes().to_vec();
                d.pop();
                m.buffers[b].data = Data::from(d);
            }),
        );
        push(
            format!("{role} tensor {t} data twice as long"),
            Box::new(move |m| {
                let mut d = m.buffers[b].data.as_bytes().to_vec();
                d.extend_from_within(..);
                m.buffers[b].data = Data::from(d);
            }),
        );
        push(format!("{role} tensor {t} data empty"), Box::new(move |m| m.buffers[b].data = Data::from(Vec::new())));
        let len = model.buffers[b].data.as_bytes().len();
        let at = rng.below(len / 4) * 4;
        for (name, v) in [
            ("NaN", f32::NAN),
            ("Inf", f32::INFINITY),
            ("-Inf", f32::NEG_INFINITY),
            ("3.4e38", 3.4e38),
            ("1e-45", 1e-45),
        ] {
            push(
                format!("{role} tensor {t} element at byte {at} = {name}"),
                Box::new(move |m| {
                    let mut d = m.buffers[b].data.as_bytes().to_vec();
                    if d.len() >= at + 4 {
                        d[at..at + 4].copy_from_slice(&v.to_le_bytes());
                    }
                    m.buffers[b].data = Data::from(d);
                }),
            );
        }
        push(
            format!("{role} tensor {t} all denormal"),
            Box::new(move |m| {
                let d: Vec<u8> = m.buffers[b]
                    .data
                    .as_bytes()
                    .chunks(4)
                    .flat_map(|c| if c.len() == 4 { 1e-40f32.to_le_bytes().to_vec() } else { c.to_vec() })
                    .collect();
                m.buffers[b].data = Data::from(d);
            }),
        );
    }

    // Operators: operand indices, opcodes, options.
    let mut picks: Vec<usize> = vec![0, nops.saturating_sub(1), rng.below(nops), rng.below(nops)];
    picks.sort_unstable();
    picks.dedup();
    for op in picks.into_iter().filter(|&o| o < nops) {
        let ni = sg.operators[op].inputs.len();
        let k = rng.below(ni);
        for (name, v) in [("-1", -1), ("out of range", nt + 5), ("i32::MAX", i32::MAX), ("-9", -9)] {
            push(
                format!("op {op} input {k} = {name}"),
                Box::new(move |m| {
                    if let Some(x) = m.subgraphs[0].operators[op].inputs.get_mut(k) {
                        *x = v;
                    }
                }),
            );
            push(
                format!("op {op} output 0 = {name}"),
                Box::new(move |m| {
                    if let Some(x) = m.subgraphs[0].operators[op].outputs.get_mut(0) {
                        *x = v;
                    }
                }),
            );
        }
        push(format!("op {op} no inputs"), Box::new(move |m| m.subgraphs[0].operators[op].inputs.clear()));
        push(format!("op {op} no outputs"), Box::new(move |m| m.subgraphs[0].operators[op].outputs.clear()));
        push(
            format!("op {op} an extra input"),
            Box::new(move |m| {
                let x = m.subgraphs[0].operators[op].inputs.first().copied().unwrap_or(0);
                m.subgraphs[0].operators[op].inputs.push(x);
            }),
        );
        push(
            format!("op {op} an extra output"),
            Box::new(move |m| {
                let x = m.subgraphs[0].operators[op].inputs.first().copied().unwrap_or(0);
                m.subgraphs[0].operators[op].outputs.push(x);
            }),
        );
        push(
            format!("op {op} input 1 = input 0"),
            Box::new(move |m| {
                let ins = &mut m.subgraphs[0].operators[op].inputs;
                if ins.len() > 1 {
                    ins[1] = ins[0];
                }
            }),
        );
        push(
            format!("op {op} reads its own output"),
            Box::new(move |m| {
                let o = &mut m.subgraphs[0].operators[op];
                if let (Some(i), Some(&out)) = (o.inputs.first_mut(), o.outputs.first()) {
                    *i = out;
                }
            }),
        );
        push(
            format!("op {op} writes a graph input"),
            Box::new(move |m| {
                let gi = m.subgraphs[0].inputs.first().copied().unwrap_or(0);
                if let Some(x) = m.subgraphs[0].operators[op].outputs.get_mut(0) {
                    *x = gi;
                }
            }),
        );
        push(
            format!("op {op} reads the last op's output"),
            Box::new(move |m| {
                let last = m.subgraphs[0].operators.last().and_then(|o| o.outputs.first().copied()).unwrap_or(0);
                if let Some(x) = m.subgraphs[0].operators[op].inputs.get_mut(0) {
                    *x = last;
                }
            }),
        );
        push(
            format!("op {op} opcode out of range"),
            Box::new(move |m| m.subgraphs[0].operators[op].opcode_index = m.operator_codes.len() as u32 + 2),
        );
        push(
            format!("op {op} options removed"),
            Box::new(move |m| m.subgraphs[0].operators[op].builtin_options = BuiltinOptionsT::NONE),
        );
        push(
            format!("op {op} another op's options"),
            Box::new(move |m| {
                m.subgraphs[0].operators[op].builtin_options = BuiltinOptionsT::ReshapeOptions(Box::default());
            }),
        );
        push(
            format!("op {op} custom options of 64 KiB"),
            Box::new(move |m| m.subgraphs[0].operators[op].custom_options = Some(Data::from(vec![0xffu8; 65536]))),
        );
        for v in [0, -1, 40000, i32::MAX] {
            push(
                format!("op {op} strides, dilations and sizes = {v}"),
                Box::new(move |m| set_geometry(&mut m.subgraphs[0].operators[op].builtin_options, v)),
            );
        }
        push(
            format!("op {op} subgraph indices out of range"),
            Box::new(move |m| set_subgraphs(&mut m.subgraphs[0].operators[op].builtin_options, 9)),
        );
    }
    if nops > 1 {
        push("operators reversed".into(), Box::new(|m| m.subgraphs[0].operators.reverse()));
        push(
            "first operator twice".into(),
            Box::new(|m| {
                let o = m.subgraphs[0].operators[0].clone();
                m.subgraphs[0].operators.insert(1, o);
            }),
        );
    }

    // Operator codes.
    for c in 0..model.operator_codes.len().min(3) {
        push(format!("opcode {c} version 0"), Box::new(move |m| m.operator_codes[c].version = 0));
        push(format!("opcode {c} version 999"), Box::new(move |m| m.operator_codes[c].version = 999));
        push(
            format!("opcode {c} unknown builtin 250"),
            Box::new(move |m| m.operator_codes[c].builtin = BuiltinOperator(250)),
        );
        push(
            format!("opcode {c} CUSTOM without a name"),
            Box::new(move |m| {
                m.operator_codes[c].builtin = BuiltinOperator::CUSTOM;
                m.operator_codes[c].custom_code = None;
            }),
        );
        let other = BuiltinOperator([3, 4, 9, 22, 25, 18, 0, 17, 40, 49][rng.below(10)]);
        push(format!("opcode {c} becomes builtin {}", other.0), Box::new(move |m| m.operator_codes[c].builtin = other));
    }

    // Graph inputs, outputs, subgraphs and signatures.
    push("no graph inputs".into(), Box::new(|m| m.subgraphs[0].inputs.clear()));
    push("no graph outputs".into(), Box::new(|m| m.subgraphs[0].outputs.clear()));
    push("graph input out of range".into(), Box::new(move |m| m.subgraphs[0].inputs.push(nt + 1)));
    push("graph output -1".into(), Box::new(|m| m.subgraphs[0].outputs.push(-1)));
    push(
        "graph input twice".into(),
        Box::new(|m| {
            if let Some(&i) = m.subgraphs[0].inputs.first() {
                m.subgraphs[0].inputs.push(i);
            }
        }),
    );
    push(
        "a constant as graph input".into(),
        Box::new(|m| {
            let sg = &m.subgraphs[0];
            if let Some(c) = (0..sg.tensors.len()).find(|&t| {
                sg.tensors[t].buffer != 0 && !m.buffers[sg.tensors[t].buffer as usize].data.as_bytes().is_empty()
            }) {
                m.subgraphs[0].inputs = vec![c as i32];
            }
        }),
    );
    push("no subgraphs".into(), Box::new(|m| m.subgraphs.clear()));
    push("no buffers".into(), Box::new(|m| m.buffers.clear()));
    push("no operator codes".into(), Box::new(|m| m.operator_codes.clear()));
    push("schema version 2".into(), Box::new(|m| m.version = 2));
    push(
        "signature tensor out of range".into(),
        Box::new(move |m| {
            for s in &mut m.signature_defs {
                for t in s.inputs.iter_mut().chain(s.outputs.iter_mut()) {
                    t.tensor_index = nt as u32 + 4;
                }
            }
        }),
    );
    push(
        "signature subgraph out of range".into(),
        Box::new(|m| {
            for s in &mut m.signature_defs {
                s.subgraph_index = 7;
            }
        }),
    );
    out
}

fn bad_quant() -> Vec<(&'static str, QuantParams)> {
    let q = |scale: Vec<f32>, zp: Vec<i64>, dim: i32| QuantParams {
        scale: Some(scale),
        zero_point: Some(zp),
        quantized_dimension: dim,
        ..QuantParams::default()
    };
    vec![
        ("scale 0", q(vec![0.0], vec![0], 0)),
        ("scale NaN", q(vec![f32::NAN], vec![0], 0)),
        ("scale -1", q(vec![-1.0], vec![0], 0)),
        ("scale Inf", q(vec![f32::INFINITY], vec![0], 0)),
        ("zero point 1000", q(vec![0.5], vec![1000], 0)),
        ("3 scales, 2 zero points", q(vec![0.5; 3], vec![0; 2], 0)),
        ("quantized dimension 9", q(vec![0.5; 2], vec![0; 2], 9)),
        ("4096 scales", q(vec![0.5; 4096], vec![0; 4096], 0)),
        ("min above max", QuantParams { min: Some(vec![3.0]), max: Some(vec![-3.0]), ..QuantParams::default() }),
        ("min NaN", QuantParams { min: Some(vec![f32::NAN]), max: Some(vec![1.0]), ..QuantParams::default() }),
    ]
}

fn set_geometry(o: &mut BuiltinOptionsT, v: i32) {
    match o {
        BuiltinOptionsT::Conv2DOptions(c) => {
            (c.stride_w, c.stride_h, c.dilation_w_factor, c.dilation_h_factor) = (v, v, v, v);
        }
        BuiltinOptionsT::DepthwiseConv2DOptions(c) => {
            (c.stride_w, c.stride_h, c.dilation_w_factor, c.dilation_h_factor, c.depth_multiplier) = (v, v, v, v, v);
        }
        BuiltinOptionsT::Pool2DOptions(c) => {
            (c.stride_w, c.stride_h, c.filter_width, c.filter_height) = (v, v, v, v);
        }
        BuiltinOptionsT::ConcatenationOptions(c) => c.axis = v,
        BuiltinOptionsT::SoftmaxOptions(c) => c.beta = v as f32,
        BuiltinOptionsT::ReshapeOptions(c) => c.new_shape = Some(vec![v, v]),
        BuiltinOptionsT::GatherOptions(c) => c.axis = v,
        BuiltinOptionsT::SqueezeOptions(c) => c.squeeze_dims = Some(vec![v]),
        BuiltinOptionsT::ResizeBilinearOptions(c) => c.align_corners = v != 0,
        _ => {}
    }
}

fn set_subgraphs(o: &mut BuiltinOptionsT, v: i32) {
    match o {
        BuiltinOptionsT::WhileOptions(w) => (w.cond_subgraph_index, w.body_subgraph_index) = (v, v),
        BuiltinOptionsT::IfOptions(i) => (i.then_subgraph_index, i.else_subgraph_index) = (v, v),
        BuiltinOptionsT::CallOnceOptions(c) => c.init_subgraph_index = v,
        _ => {}
    }
}
