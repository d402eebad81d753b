//! Single-op models built here and run in both interpreters: every kernel of the op
//! registry against the official one (ai-edge-litert). One file per op family, mirroring
//! `src/ops/`; adding an op adds its cases to its family's `cases()`.

#[path = "../common/mod.rs"]
mod common;

mod binary;
mod conv;
mod index;
mod matmul;
mod normalize;
mod pool;
mod quant;
mod reduce;
mod resize;
mod sequence;
mod shape;
mod space;
mod unary;

mod exact;
mod hybrid;
mod integer;

use common::{as_f32, npy_value, rel_diff};
use std::path::Path;
use tflq::interp::{Interpreter, Value, Values};
use tflq::ir::{Buffer, Model, Operator, OperatorCode, Subgraph, Tensor};
pub use tflq::schema::TensorType;
pub use tflq::schema::{self as fb, ActivationFunctionType as Act, BuiltinOperator, BuiltinOptionsT as Opt, Padding};

/// Deterministic floats in [lo, hi).
pub fn floats(n: usize, seed: u64, lo: f32, hi: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            lo + (hi - lo) * ((s >> 40) as f32 / (1u64 << 24) as f32)
        })
        .collect()
}

pub fn write_npy_f32(path: &Path, shape: &[usize], v: &[f32]) {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_txt = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_txt}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    v.iter().for_each(|x| bytes.extend_from_slice(&x.to_le_bytes()));
    std::fs::write(path, bytes).unwrap();
}

pub enum Data {
    /// A model input filled with floats in [lo, hi).
    Input(f32, f32),
    F32(Vec<f32>),
    I32(Vec<i32>),
    /// INT8 constant with per-axis scales along `axis`.
    I8(Vec<i8>, Vec<f32>, i32),
    /// An INT8 or UINT8 constant (raw bytes) with per-axis scales along `axis` and zero
    /// points 0, read by the op itself (no DEQUANTIZE).
    Quantized(TensorType, Vec<u8>, Vec<f32>, i32),
    /// A variable tensor without data (an op's state): zeros at the start of a run.
    State,
    /// An INT32 model input filled with integers in [lo, hi).
    Ids(i32, i32),
    /// A BOOL constant.
    Bool(Vec<bool>),
}

pub struct Case {
    pub name: &'static str,
    pub op: BuiltinOperator,
    pub options: Opt,
    /// (shape, data) per input; None for an omitted optional input.
    pub inputs: Vec<Option<(Vec<i32>, Data)>>,
    /// Output shapes.
    pub outputs: Vec<Vec<i32>>,
    /// Output types, when not all FLOAT32.
    pub out_types: Vec<TensorType>,
}

pub fn build(case: &Case) -> Model {
    let mut model = Model::default();
    // The lowest version the registry writes (BROADCAST_TO starts at 2).
    let version = tflq::ops::registry().builtin(case.op).map_or(1, |d| d.versions[0]);
    model.operator_codes.push(OperatorCode { builtin: case.op, custom_code: None, version });
    let mut sg = Subgraph::default();
    let mut op = Operator { opcode_index: 0, builtin_options: case.options.clone(), ..Operator::default() };
    let mut deq = Vec::new();
    for (i, inp) in case.inputs.iter().enumerate() {
        let Some((shape, data)) = inp else {
            op.inputs.push(-1);
            continue;
        };
        let mut t = Tensor { name: Some(format!("in{i}")), shape: Some(shape.clone()), ..Tensor::default() };
        let bytes: Option<Vec<u8>> = match data {
            Data::Input(..) => None,
            Data::Ids(..) => {
                t.dtype = TensorType::INT32;
                None
            }
            Data::State => {
                t.is_variable = true;
                None
            }
            Data::Quantized(dtype, v, scales, axis) => {
                t.dtype = *dtype;
                t.quantization = Some(tflq::ir::QuantParams {
                    scale: Some(scales.clone()),
                    zero_point: Some(vec![0; scales.len()]),
                    quantized_dimension: *axis,
                    ..Default::default()
                });
                Some(v.clone())
            }
            Data::F32(v) => Some(v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            Data::I32(v) => {
                t.dtype = TensorType::INT32;
                Some(v.iter().flat_map(|x| x.to_le_bytes()).collect())
            }
            Data::Bool(v) => {
                t.dtype = TensorType::BOOL;
                Some(v.iter().map(|&b| u8::from(b)).collect())
            }
            Data::I8(v, scales, axis) => {
                t.dtype = TensorType::INT8;
                t.quantization = Some(tflq::ir::QuantParams {
                    scale: Some(scales.clone()),
                    zero_point: Some(vec![0; scales.len()]),
                    quantized_dimension: *axis,
                    ..Default::default()
                });
                Some(v.iter().map(|&x| x as u8).collect())
            }
        };
        if let Some(b) = bytes {
            t.buffer = model.buffers.len() as u32;
            model.buffers.push(Buffer { data: b.into() });
        } else if !t.is_variable {
            sg.inputs.push(sg.tensors.len() as i32);
        }
        sg.tensors.push(t);
        let idx = sg.tensors.len() as i32 - 1;
        if matches!(data, Data::I8(..)) {
            // INT8 constants go through a DEQUANTIZE.
            sg.tensors.push(Tensor { name: Some(format!("deq{i}")), shape: Some(shape.clone()), ..Tensor::default() });
            deq.push((idx, idx + 1));
            op.inputs.push(idx + 1);
        } else {
            op.inputs.push(idx);
        }
    }
    for (j, s) in case.outputs.iter().enumerate() {
        let dtype = case.out_types.get(j).copied().unwrap_or(TensorType::FLOAT32);
        sg.tensors.push(Tensor { name: Some(format!("out{j}")), shape: Some(s.clone()), dtype, ..Tensor::default() });
        op.outputs.push(sg.tensors.len() as i32 - 1);
        sg.outputs.push(sg.tensors.len() as i32 - 1);
    }
    if !deq.is_empty() {
        model.operator_codes.push(OperatorCode { builtin: BuiltinOperator::DEQUANTIZE, custom_code: None, version: 2 });
        for (i, o) in deq {
            sg.operators.push(Operator { opcode_index: 1, inputs: vec![i], outputs: vec![o], ..Operator::default() });
        }
    }
    sg.operators.push(op);
    model.subgraphs.push(sg);
    model
}

pub fn x(shape: &[i32]) -> Option<(Vec<i32>, Data)> {
    Some((shape.to_vec(), Data::Input(-3.0, 3.0)))
}
pub fn pos(shape: &[i32]) -> Option<(Vec<i32>, Data)> {
    Some((shape.to_vec(), Data::Input(0.1, 4.0)))
}
pub fn cf(shape: &[i32], seed: u64) -> Option<(Vec<i32>, Data)> {
    let n = shape.iter().product::<i32>() as usize;
    Some((shape.to_vec(), Data::F32(floats(n, seed, -1.0, 1.0))))
}
pub fn ci(v: &[i32]) -> Option<(Vec<i32>, Data)> {
    Some((vec![v.len() as i32], Data::I32(v.to_vec())))
}
pub fn ci2(shape: &[i32], v: &[i32]) -> Option<(Vec<i32>, Data)> {
    Some((shape.to_vec(), Data::I32(v.to_vec())))
}
pub fn case(
    name: &'static str,
    op: BuiltinOperator,
    options: Opt,
    inputs: Vec<Option<(Vec<i32>, Data)>>,
    out: &[i32],
) -> Case {
    Case { name, op, options, inputs, outputs: vec![out.to_vec()], out_types: vec![] }
}

/// The activation shape most cases use.
pub const S: [i32; 4] = [1, 6, 5, 4];

/// A unary op on an input of shape [`S`].
pub fn unary(name: &'static str, op: BuiltinOperator) -> Case {
    case(name, op, Opt::NONE, vec![x(&S)], &S)
}

pub fn conv(padding: Padding, stride: i32, dil: i32, act: Act) -> Opt {
    Opt::Conv2DOptions(Box::new(fb::Conv2DOptionsT {
        padding,
        stride_w: stride,
        stride_h: stride,
        dilation_w_factor: dil,
        dilation_h_factor: dil,
        fused_activation_function: act,
        ..Default::default()
    }))
}

/// A variable (state) tensor of `shape`.
pub fn state(shape: &[i32]) -> Option<(Vec<i32>, Data)> {
    Some((shape.to_vec(), Data::State))
}

/// Runs every case of one family in both interpreters; the outputs must agree to `tol`
/// (max abs difference over max abs reference).
fn check(family: &str, cases: Vec<Case>, tol: f32) {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    assert!(!cases.is_empty(), "{family}: no cases");
    for (k, c) in cases.iter().enumerate() {
        let model = build(c);
        let d = dir.path().join(format!("{family}_{}", c.name));
        std::fs::create_dir_all(&d).unwrap();
        let path = d.join("model.tflite");
        tflq::save(&model, &path, &Default::default()).unwrap();
        // Inputs, in subgraph order.
        let sg = &model.subgraphs[0];
        let mut inputs = Vec::new();
        let mut ranges = c.inputs.iter().flatten().filter_map(|(_, data)| match data {
            Data::Input(lo, hi) => Some((*lo, *hi, false)),
            Data::Ids(lo, hi) => Some((*lo as f32, *hi as f32, true)),
            _ => None,
        });
        for (i, &t) in sg.inputs.iter().enumerate() {
            let shape: Vec<usize> = sg.tensors[t as usize].shape().iter().map(|&d| d as usize).collect();
            let (lo, hi, integer) = ranges.next().unwrap();
            let v = floats(shape.iter().product(), (k * 10 + i) as u64, lo, hi);
            let path = d.join(format!("input_{i}.npy"));
            if integer {
                let v: Vec<i32> = v.iter().map(|x| (x.floor() as i32).min(hi as i32 - 1)).collect();
                common::write_npy(&path, "<i4", &shape, &v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>());
                inputs.push(Value { shape, values: Values::I32(v.into()) });
            } else {
                write_npy_f32(&path, &shape, &v);
                inputs.push(Value { shape, values: Values::F32(v.into()) });
            }
        }
        oracle!("run", "--inputs", d, "--out", d, path);
        let loaded = tflq::load(&path).unwrap();
        let got = match Interpreter::new(&loaded, 0).and_then(|i| i.run(inputs)) {
            Ok(g) => g,
            Err(e) => {
                failures.push(format!("{}: {e}", c.name));
                continue;
            }
        };
        for (j, g) in got.iter().enumerate() {
            let want = npy_value(&d.join(format!("m0/output_{j}.npy")));
            if g.shape != want.shape {
                failures.push(format!("{} output {j}: shape {:?}, official {:?}", c.name, g.shape, want.shape));
                continue;
            }
            let r = rel_diff(&as_f32(g), &as_f32(&want));
            eprintln!("{:32} output {j}: max rel diff {r:.3e}", c.name);
            if r > tol {
                failures.push(format!("{} output {j}: max rel diff {r:e}", c.name));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Most a kernel's output may differ from the official interpreter's (max abs difference over
/// max abs reference).
const TOLERANCE: f32 = 1e-5;

/// One test per op family: `agrees::conv` runs the cases of `conv.rs`.
macro_rules! agree {
    ($($family:ident),*) => {
        mod agrees {
            $(
                #[test]
                fn $family() {
                    super::check(stringify!($family), super::$family::cases(), super::TOLERANCE);
                }
            )*
        }
    };
}

agree!(binary, conv, index, matmul, normalize, pool, quant, reduce, resize, sequence, shape, space, unary);

/// Every family's cases.
fn all_cases() -> Vec<Case> {
    [
        binary::cases(),
        conv::cases(),
        index::cases(),
        matmul::cases(),
        normalize::cases(),
        pool::cases(),
        quant::cases(),
        reduce::cases(),
        resize::cases(),
        sequence::cases(),
        shape::cases(),
        space::cases(),
        unary::cases(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

#[test]
fn every_integer_rule_loads_and_runs_in_litert_in_int8_and_16x8() {
    integer::check(all_cases());
}

#[test]
fn integer_kernels_are_byte_identical_with_litert_builtin() {
    exact::check(all_cases());
}

#[test]
fn cnn_quantized_by_tflq_is_byte_identical_with_litert_builtin() {
    exact::cnn();
}

#[test]
fn hybrid_kernels_are_bit_identical_with_litert_builtin() {
    let mut cases = all_cases();
    cases.extend(hybrid::cases());
    hybrid::check(cases);
}

#[test]
fn cnn_dynamic_is_bit_identical_with_litert_builtin() {
    hybrid::cnn();
}
