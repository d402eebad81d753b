//! The reference float interpreter against the official interpreter (ai-edge-litert).

mod common;

use common::{name, read_npy, testdata, tflite_fixtures};
use std::path::Path;
use tflq::interp::{InterpError, Interpreter, Value, Values};
use tflq::schema::BuiltinOperator;

/// Fixtures that are float models (the quantized ones and the custom op are not for this interpreter).
fn float_fixture(path: &Path) -> bool {
    let n = name(path);
    !(n.contains(".int8") || n.contains(".int16x8") || n.contains(".dynamic") || n.starts_with("custom_op"))
}

/// A .npy file as an interpreter value.
fn npy_value(path: &Path) -> Value {
    let (descr, shape, data) = read_npy(path);
    let values = match descr.as_str() {
        "<f4" => Values::F32(data.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()),
        "<i4" => Values::I32(data.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap())).collect()),
        "<i8" => Values::I64(data.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect()),
        "|u1" => Values::U8(data),
        "|i1" => Values::I8(data.iter().map(|&b| b as i8).collect()),
        "|b1" => Values::Bool(data.iter().map(|&b| b != 0).collect()),
        other => panic!("{}: unsupported npy dtype {other}", path.display()),
    };
    Value { shape, values }
}

fn as_f32(v: &Value) -> Vec<f32> {
    match &v.values {
        Values::F32(x) => x.clone(),
        Values::I32(x) => x.iter().map(|&a| a as f32).collect(),
        Values::I64(x) => x.iter().map(|&a| a as f32).collect(),
        Values::U8(x) => x.iter().map(|&a| f32::from(a)).collect(),
        Values::I8(x) => x.iter().map(|&a| f32::from(a)).collect(),
        Values::Bool(x) => x.iter().map(|&a| f32::from(u8::from(a))).collect(),
    }
}

/// max|a-b| / max(max|b|, 1e-6).
fn rel_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let num = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    let den = b.iter().map(|y| y.abs()).fold(0f32, f32::max).max(1e-6);
    num / den
}

#[test]
fn agrees_with_official_interpreter_on_every_float_fixture() {
    let dir = tempfile::tempdir().unwrap();
    let mut report = Vec::new();
    let mut checked = 0;
    for path in tflite_fixtures() {
        if !float_fixture(&path) {
            continue;
        }
        let out = dir.path().join(name(&path));
        oracle!("run", "--out", out, path);
        let model = tflq::load(&path).unwrap_or_else(|e| panic!("{}: {e}", name(&path)));
        let interp = Interpreter::new(&model, 0).unwrap_or_else(|e| panic!("{}: {e}", name(&path)));
        let inputs: Vec<Value> =
            (0..interp.inputs().len()).map(|i| npy_value(&out.join(format!("input_{i}.npy")))).collect();
        let got = interp.run(inputs).unwrap_or_else(|e| panic!("{}: {e}", name(&path)));
        assert_eq!(got.len(), interp.outputs().len());
        for (j, g) in got.iter().enumerate() {
            let want = npy_value(&out.join(format!("m0/output_{j}.npy")));
            assert_eq!(g.shape, want.shape, "{} output {j} shape", name(&path));
            let d = rel_diff(&as_f32(g), &as_f32(&want));
            report.push(format!("{} output {j}: max rel diff {d:.3e}", name(&path)));
            assert!(d <= 1e-4, "{} output {j}: max rel diff {d:e} > 1e-4", name(&path));
        }
        checked += 1;
    }
    eprintln!("{}", report.join("\n"));
    assert!(checked >= 15, "only {checked} float fixtures checked");
}

#[test]
fn cnn_top1_matches_official_interpreter_on_test_images() {
    let x = npy_value(&testdata("cnn.test_x.npy"));
    let n = x.shape[0];
    assert_eq!(n, 80);
    let per = x.shape[1..].iter().product::<usize>();
    let Values::F32(xs) = &x.values else { panic!("test_x is not float32") };

    // The official interpreter's predictions, one sample at a time.
    let dir = tempfile::tempdir().unwrap();
    let preds = dir.path().join("preds.npy");
    let script = "import sys, numpy as np\n\
from ai_edge_litert.interpreter import Interpreter\n\
it = Interpreter(model_path=sys.argv[1], num_threads=1); it.allocate_tensors()\n\
i, o = it.get_input_details()[0], it.get_output_details()[0]\n\
xs = np.load(sys.argv[2]); p = []\n\
for s in xs:\n    it.set_tensor(i['index'], s[None].astype(np.float32)); it.invoke(); p.append(it.get_tensor(o['index'])[0])\n\
np.save(sys.argv[3], np.stack(p).astype(np.float32))\n";
    let st = std::process::Command::new(common::python())
        .args(["-c", script])
        .arg(testdata("cnn.tflite"))
        .arg(testdata("cnn.test_x.npy"))
        .arg(&preds)
        .status()
        .unwrap();
    assert!(st.success());
    let want = npy_value(&preds);
    let want = as_f32(&want);
    let classes = want.len() / n;

    let model = tflq::load(&testdata("cnn.tflite")).unwrap();
    let interp = Interpreter::new(&model, 0).unwrap();
    let argmax = |v: &[f32]| v.iter().enumerate().fold(0, |b, (i, &x)| if x > v[b] { i } else { b });
    let mut same = 0;
    let mut worst = 0f32;
    for s in 0..n {
        let mut shape = x.shape.clone();
        shape[0] = 1;
        let input = Value { shape, values: Values::F32(xs[s * per..(s + 1) * per].to_vec()) };
        let out = interp.run(vec![input]).unwrap();
        let got = as_f32(&out[0]);
        let w = &want[s * classes..(s + 1) * classes];
        worst = worst.max(rel_diff(&got, w));
        same += usize::from(argmax(&got) == argmax(w));
    }
    eprintln!("cnn: top-1 agreement {same}/{n}, worst max rel diff {worst:.3e}");
    assert_eq!(same, n);
    assert!(worst <= 1e-4, "worst rel diff {worst}");
}

#[test]
fn unsupported_op_is_named() {
    let mut model = tflq::load(&testdata("mlp.tflite")).unwrap();
    for c in &mut model.operator_codes {
        if c.builtin == BuiltinOperator::FULLY_CONNECTED {
            c.builtin = BuiltinOperator::LSTM;
        }
    }
    let err = Interpreter::new(&model, 0).err().expect("LSTM must be refused");
    assert!(matches!(&err, InterpError::UnsupportedOps { ops } if ops.iter().all(|o| o == "LSTM")), "{err:?}");
    let msg = err.to_string();
    assert_eq!(msg, "unsupported ops for the float interpreter: LSTM (3 ops)");

    // Custom ops are named by their custom code.
    let model = tflq::load(&testdata("custom_op.tflite")).unwrap();
    let msg = Interpreter::new(&model, 0).err().expect("custom op must be refused").to_string();
    assert!(msg.contains("TflqTestCustom"), "{msg}");
    assert!(!msg.contains("FULLY_CONNECTED"), "{msg}");
}

#[test]
fn bad_inputs_are_errors() {
    let model = tflq::load(&testdata("mlp.tflite")).unwrap();
    let interp = Interpreter::new(&model, 0).unwrap();
    let good = || Value { shape: vec![1, 64], values: Values::F32(vec![0.5; 64]) };
    assert!(interp.run(vec![good()]).is_ok());

    let e = interp.run(vec![]).unwrap_err();
    assert!(matches!(e, InterpError::InputCount { expected: 1, got: 0 }), "{e:?}");
    let e = interp.run(vec![good(), good()]).unwrap_err();
    assert!(matches!(e, InterpError::InputCount { expected: 1, got: 2 }), "{e:?}");

    let e = interp.run(vec![Value { shape: vec![1, 63], values: Values::F32(vec![0.5; 63]) }]).unwrap_err();
    assert!(matches!(&e, InterpError::InputShape { index: 0, got, .. } if got == &vec![1, 63]), "{e:?}");
    assert!(e.to_string().contains("64]"), "{e}");

    let e = interp.run(vec![Value { shape: vec![1, 64], values: Values::I32(vec![1; 64]) }]).unwrap_err();
    assert!(matches!(e, InterpError::InputType { index: 0, .. }), "{e:?}");

    let e = interp.run(vec![Value { shape: vec![1, 64], values: Values::F32(vec![0.5; 10]) }]).unwrap_err();
    assert!(matches!(e, InterpError::InputData { .. }), "{e:?}");

    assert!(matches!(Interpreter::new(&model, 7), Err(InterpError::NoSubgraph { index: 7, .. })));
}

#[test]
fn observe_sees_every_input_and_operator_output() {
    let model = tflq::load(&testdata("cnn.float16.tflite")).unwrap();
    let interp = Interpreter::new(&model, 0).unwrap();
    let sg = &model.subgraphs[0];
    let mut seen = std::collections::BTreeSet::new();
    let input = Value { shape: vec![1, 32, 32, 3], values: Values::F32(vec![0.25; 32 * 32 * 3]) };
    let out = interp
        .run_observed(vec![input], &mut |t, v| {
            assert_eq!(v.shape.iter().map(|&d| d as i32).collect::<Vec<_>>(), sg.tensors[t].shape(), "tensor {t}");
            seen.insert(t);
        })
        .unwrap();
    let mut want: std::collections::BTreeSet<usize> = sg.inputs.iter().map(|&t| t as usize).collect();
    want.extend(sg.operators.iter().flat_map(|o| o.outputs.iter().map(|&t| t as usize)));
    assert_eq!(seen, want);
    assert_eq!(out.len(), 1);
}

#[test]
fn runs_samples_in_parallel() {
    fn assert_send_sync<T: Send + Sync>(_: &T) {}
    let model = tflq::load(&testdata("cnn.tflite")).unwrap();
    let interp = Interpreter::new(&model, 0).unwrap();
    assert_send_sync(&interp);
    let sample = |k: usize| Value {
        shape: vec![1, 32, 32, 3],
        values: Values::F32((0..32 * 32 * 3).map(|i| ((i * (k + 1)) % 17) as f32 / 17.0).collect()),
    };
    let serial: Vec<Vec<Value>> = (0..4).map(|k| interp.run(vec![sample(k)]).unwrap()).collect();
    let parallel: Vec<Vec<Value>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|k| {
                s.spawn({
                    let interp = &interp;
                    move || interp.run(vec![sample(k)]).unwrap()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(serial, parallel);
}

// ---------------------------------------------------------------------------------------------
// Single-op models built here, run in both interpreters: covers kernels no fixture uses.

use tflq::ir::{Buffer, Model, Operator, OperatorCode, Subgraph, Tensor};
use tflq::schema::{self as fb, ActivationFunctionType as Act, BuiltinOptionsT as Opt, Padding, TensorType};

/// Deterministic floats in [lo, hi).
fn floats(n: usize, seed: u64, lo: f32, hi: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            lo + (hi - lo) * ((s >> 40) as f32 / (1u64 << 24) as f32)
        })
        .collect()
}

fn write_npy_f32(path: &Path, shape: &[usize], v: &[f32]) {
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

enum Data {
    /// A model input filled with floats in [lo, hi).
    Input(f32, f32),
    F32(Vec<f32>),
    I32(Vec<i32>),
    /// INT8 constant with per-axis scales along `axis`.
    I8(Vec<i8>, Vec<f32>, i32),
}

struct Case {
    name: &'static str,
    op: BuiltinOperator,
    options: Opt,
    /// (shape, data) per input; None for an omitted optional input.
    inputs: Vec<Option<(Vec<i32>, Data)>>,
    /// Output shapes (float32).
    outputs: Vec<Vec<i32>>,
}

fn build(case: &Case) -> Model {
    let mut model = Model::default();
    model.operator_codes.push(OperatorCode { builtin: case.op, custom_code: None, version: 1 });
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
            Data::F32(v) => Some(v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            Data::I32(v) => {
                t.dtype = TensorType::INT32;
                Some(v.iter().flat_map(|x| x.to_le_bytes()).collect())
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
        } else {
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
        sg.tensors.push(Tensor { name: Some(format!("out{j}")), shape: Some(s.clone()), ..Tensor::default() });
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

fn x(shape: &[i32]) -> Option<(Vec<i32>, Data)> {
    Some((shape.to_vec(), Data::Input(-3.0, 3.0)))
}
fn pos(shape: &[i32]) -> Option<(Vec<i32>, Data)> {
    Some((shape.to_vec(), Data::Input(0.1, 4.0)))
}
fn cf(shape: &[i32], seed: u64) -> Option<(Vec<i32>, Data)> {
    let n = shape.iter().product::<i32>() as usize;
    Some((shape.to_vec(), Data::F32(floats(n, seed, -1.0, 1.0))))
}
fn ci(v: &[i32]) -> Option<(Vec<i32>, Data)> {
    Some((vec![v.len() as i32], Data::I32(v.to_vec())))
}
fn ci2(shape: &[i32], v: &[i32]) -> Option<(Vec<i32>, Data)> {
    Some((shape.to_vec(), Data::I32(v.to_vec())))
}
fn case(
    name: &'static str,
    op: BuiltinOperator,
    options: Opt,
    inputs: Vec<Option<(Vec<i32>, Data)>>,
    out: &[i32],
) -> Case {
    Case { name, op, options, inputs, outputs: vec![out.to_vec()] }
}

fn cases() -> Vec<Case> {
    use BuiltinOperator as B;
    let s = [1, 6, 5, 4];
    let unary = |name, op| case(name, op, Opt::NONE, vec![x(&s)], &s);
    let conv = |padding, stride, dil, act| {
        Opt::Conv2DOptions(Box::new(fb::Conv2DOptionsT {
            padding,
            stride_w: stride,
            stride_h: stride,
            dilation_w_factor: dil,
            dilation_h_factor: dil,
            fused_activation_function: act,
            ..Default::default()
        }))
    };
    let pool = |padding, f, st| {
        Opt::Pool2DOptions(Box::new(fb::Pool2DOptionsT {
            padding,
            stride_w: st,
            stride_h: st,
            filter_width: f,
            filter_height: f,
            fused_activation_function: Act::NONE,
        }))
    };
    let rb = |a, h| {
        Opt::ResizeBilinearOptions(Box::new(fb::ResizeBilinearOptionsT { align_corners: a, half_pixel_centers: h }))
    };
    let rn = |a, h| {
        Opt::ResizeNearestNeighborOptions(Box::new(fb::ResizeNearestNeighborOptionsT {
            align_corners: a,
            half_pixel_centers: h,
        }))
    };
    let ss = |b, e, sh, el, na| {
        Opt::StridedSliceOptions(Box::new(fb::StridedSliceOptionsT {
            begin_mask: b,
            end_mask: e,
            shrink_axis_mask: sh,
            ellipsis_mask: el,
            new_axis_mask: na,
            offset: false,
        }))
    };
    vec![
        unary("relu", B::RELU),
        unary("relu6", B::RELU6),
        unary("relu_n1_to_1", B::RELU_N1_TO_1),
        unary("logistic", B::LOGISTIC),
        unary("tanh", B::TANH),
        unary("hard_swish", B::HARD_SWISH),
        case(
            "gelu_exact",
            B::GELU,
            Opt::GeluOptions(Box::new(fb::GeluOptionsT { approximate: false })),
            vec![x(&s)],
            &s,
        ),
        case(
            "gelu_approx",
            B::GELU,
            Opt::GeluOptions(Box::new(fb::GeluOptionsT { approximate: true })),
            vec![x(&s)],
            &s,
        ),
        case(
            "leaky_relu",
            B::LEAKY_RELU,
            Opt::LeakyReluOptions(Box::new(fb::LeakyReluOptionsT { alpha: 0.2 })),
            vec![x(&s)],
            &s,
        ),
        case("prelu", B::PRELU, Opt::NONE, vec![x(&s), cf(&[1, 1, 4], 3)], &s),
        case("sqrt", B::SQRT, Opt::NONE, vec![pos(&s)], &s),
        case("rsqrt", B::RSQRT, Opt::NONE, vec![pos(&s)], &s),
        case("softmax", B::SOFTMAX, Opt::SoftmaxOptions(Box::new(fb::SoftmaxOptionsT { beta: 0.5 })), vec![x(&s)], &s),
        unary("log_softmax", B::LOG_SOFTMAX),
        unary("l2_norm", B::L2_NORMALIZATION),
        case(
            "add_bcast_relu",
            B::ADD,
            Opt::AddOptions(Box::new(fb::AddOptionsT { fused_activation_function: Act::RELU, ..Default::default() })),
            vec![x(&s), cf(&[4], 1)],
            &s,
        ),
        case("sub_bcast", B::SUB, Opt::SubOptions(Box::default()), vec![x(&s), x(&[1, 1, 5, 1])], &s),
        case("mul_bcast", B::MUL, Opt::MulOptions(Box::default()), vec![x(&[1, 6, 1, 4]), x(&[5, 1])], &s),
        case("div", B::DIV, Opt::DivOptions(Box::default()), vec![x(&s), pos(&[1, 6, 1, 1])], &s),
        case("maximum", B::MAXIMUM, Opt::NONE, vec![x(&s), cf(&[1, 1, 1, 4], 2)], &s),
        case("minimum", B::MINIMUM, Opt::NONE, vec![x(&s), x(&s)], &s),
        case("squared_difference", B::SQUARED_DIFFERENCE, Opt::NONE, vec![x(&s), x(&[4])], &s),
        case("max_pool_same", B::MAX_POOL_2D, pool(Padding::SAME, 3, 2), vec![x(&s)], &[1, 3, 3, 4]),
        case("avg_pool_same", B::AVERAGE_POOL_2D, pool(Padding::SAME, 3, 2), vec![x(&s)], &[1, 3, 3, 4]),
        case("avg_pool_valid", B::AVERAGE_POOL_2D, pool(Padding::VALID, 2, 1), vec![x(&s)], &[1, 5, 4, 4]),
        case(
            "mean_keep",
            B::MEAN,
            Opt::ReducerOptions(Box::new(fb::ReducerOptionsT { keep_dims: true })),
            vec![x(&s), ci(&[1, 2])],
            &[1, 1, 1, 4],
        ),
        case("sum_last", B::SUM, Opt::ReducerOptions(Box::default()), vec![x(&s), ci(&[-1, 1])], &[1, 5]),
        case("pad", B::PAD, Opt::NONE, vec![x(&s), ci2(&[4, 2], &[0, 0, 1, 2, 0, 1, 3, 0])], &[1, 9, 6, 7]),
        case(
            "padv2",
            B::PADV2,
            Opt::NONE,
            vec![x(&s), ci2(&[4, 2], &[0, 0, 2, 0, 1, 1, 0, 2]), Some((vec![], Data::F32(vec![-7.5])))],
            &[1, 8, 7, 6],
        ),
        case(
            "mirror_pad_reflect",
            B::MIRROR_PAD,
            Opt::MirrorPadOptions(Box::new(fb::MirrorPadOptionsT { mode: fb::MirrorPadMode::REFLECT })),
            vec![x(&s), ci2(&[4, 2], &[0, 0, 2, 1, 1, 3, 0, 0])],
            &[1, 9, 9, 4],
        ),
        case(
            "mirror_pad_symmetric",
            B::MIRROR_PAD,
            Opt::MirrorPadOptions(Box::new(fb::MirrorPadOptionsT { mode: fb::MirrorPadMode::SYMMETRIC })),
            vec![x(&s), ci2(&[4, 2], &[0, 0, 3, 1, 2, 5, 1, 0])],
            &[1, 10, 12, 5],
        ),
        case("reshape", B::RESHAPE, Opt::NONE, vec![x(&s), ci(&[6, -1])], &[6, 20]),
        case(
            "squeeze",
            B::SQUEEZE,
            Opt::SqueezeOptions(Box::new(fb::SqueezeOptionsT { squeeze_dims: Some(vec![0]) })),
            vec![x(&s)],
            &[6, 5, 4],
        ),
        case("expand_dims", B::EXPAND_DIMS, Opt::NONE, vec![x(&s), ci2(&[], &[-2])], &[1, 6, 5, 1, 4]),
        case("transpose", B::TRANSPOSE, Opt::NONE, vec![x(&s), ci(&[0, 3, 1, 2])], &[1, 4, 6, 5]),
        case(
            "concat",
            B::CONCATENATION,
            Opt::ConcatenationOptions(Box::new(fb::ConcatenationOptionsT {
                axis: -2,
                fused_activation_function: Act::RELU6,
            })),
            vec![x(&s), x(&[1, 6, 2, 4]), cf(&[1, 6, 1, 4], 9)],
            &[1, 6, 8, 4],
        ),
        Case {
            name: "split",
            op: B::SPLIT,
            options: Opt::SplitOptions(Box::new(fb::SplitOptionsT { num_splits: 2 })),
            inputs: vec![ci2(&[], &[3]), x(&s)],
            outputs: vec![vec![1, 6, 5, 2], vec![1, 6, 5, 2]],
        },
        case("slice", B::SLICE, Opt::NONE, vec![x(&s), ci(&[0, 1, 2, 0]), ci(&[1, 4, -1, 3])], &[1, 4, 3, 3]),
        case(
            "strided_slice_masks",
            B::STRIDED_SLICE,
            ss(0b0010, 0b0100, 0b0001, 0, 0),
            vec![x(&s), ci(&[0, 4, 1, 3]), ci(&[1, 0, 5, -5]), ci(&[1, -2, 2, -1])],
            &[3, 2, 3],
        ),
        case(
            "strided_slice_ellipsis_newaxis",
            B::STRIDED_SLICE,
            ss(0, 0, 0, 0b01, 0b10),
            vec![x(&s), ci(&[0, 0, 1]), ci(&[0, 0, 3]), ci(&[1, 1, 1])],
            &[1, 6, 5, 1, 2],
        ),
        case(
            "gather",
            B::GATHER,
            Opt::GatherOptions(Box::new(fb::GatherOptionsT { axis: 1, batch_dims: 0 })),
            vec![x(&s), ci2(&[2, 3], &[5, 0, 2, 2, 1, 4])],
            &[1, 2, 3, 5, 4],
        ),
        case("resize_bilinear", B::RESIZE_BILINEAR, rb(false, false), vec![x(&s), ci(&[9, 7])], &[1, 9, 7, 4]),
        case("resize_bilinear_align", B::RESIZE_BILINEAR, rb(true, false), vec![x(&s), ci(&[9, 7])], &[1, 9, 7, 4]),
        case("resize_bilinear_half", B::RESIZE_BILINEAR, rb(false, true), vec![x(&s), ci(&[4, 11])], &[1, 4, 11, 4]),
        case("resize_nearest", B::RESIZE_NEAREST_NEIGHBOR, rn(false, false), vec![x(&s), ci(&[11, 3])], &[1, 11, 3, 4]),
        case(
            "resize_nearest_align",
            B::RESIZE_NEAREST_NEIGHBOR,
            rn(true, false),
            vec![x(&s), ci(&[11, 3])],
            &[1, 11, 3, 4],
        ),
        case(
            "resize_nearest_half",
            B::RESIZE_NEAREST_NEIGHBOR,
            rn(false, true),
            vec![x(&s), ci(&[11, 3])],
            &[1, 11, 3, 4],
        ),
        case(
            "depth_to_space",
            B::DEPTH_TO_SPACE,
            Opt::DepthToSpaceOptions(Box::new(fb::DepthToSpaceOptionsT { block_size: 2 })),
            vec![x(&[1, 3, 2, 8])],
            &[1, 6, 4, 2],
        ),
        case(
            "space_to_depth",
            B::SPACE_TO_DEPTH,
            Opt::SpaceToDepthOptions(Box::new(fb::SpaceToDepthOptionsT { block_size: 2 })),
            vec![x(&[1, 6, 4, 3])],
            &[1, 3, 2, 12],
        ),
        case(
            "conv_dilated_valid",
            B::CONV_2D,
            conv(Padding::VALID, 1, 2, Act::NONE),
            vec![x(&[1, 9, 8, 3]), cf(&[5, 3, 3, 3], 4), cf(&[5], 5)],
            &[1, 5, 4, 5],
        ),
        case(
            "conv_stride2_same_relu6",
            B::CONV_2D,
            conv(Padding::SAME, 2, 1, Act::RELU6),
            vec![x(&[1, 9, 8, 3]), cf(&[6, 3, 2, 3], 6), cf(&[6], 14)],
            &[1, 5, 4, 6],
        ),
        case(
            "depthwise_mult2_stride2",
            B::DEPTHWISE_CONV_2D,
            Opt::DepthwiseConv2DOptions(Box::new(fb::DepthwiseConv2DOptionsT {
                padding: Padding::SAME,
                stride_w: 2,
                stride_h: 2,
                depth_multiplier: 2,
                fused_activation_function: Act::RELU,
                dilation_w_factor: 1,
                dilation_h_factor: 1,
            })),
            vec![x(&[1, 9, 8, 3]), cf(&[1, 3, 3, 6], 7), cf(&[6], 8)],
            &[1, 5, 4, 6],
        ),
        case(
            "depthwise_dilated_wide",
            B::DEPTHWISE_CONV_2D,
            Opt::DepthwiseConv2DOptions(Box::new(fb::DepthwiseConv2DOptionsT {
                padding: Padding::SAME,
                stride_w: 1,
                stride_h: 1,
                depth_multiplier: 1,
                fused_activation_function: Act::NONE,
                dilation_w_factor: 2,
                dilation_h_factor: 2,
            })),
            vec![x(&[1, 7, 6, 37]), cf(&[1, 3, 3, 37], 10), cf(&[37], 15)],
            &[1, 7, 6, 37],
        ),
        case(
            "fully_connected_keep_dims",
            B::FULLY_CONNECTED,
            Opt::FullyConnectedOptions(Box::new(fb::FullyConnectedOptionsT {
                keep_num_dims: true,
                ..Default::default()
            })),
            vec![x(&s), cf(&[7, 4], 11), None],
            &[1, 6, 5, 7],
        ),
        case(
            "transpose_conv_stride2_valid",
            B::TRANSPOSE_CONV,
            Opt::TransposeConvOptions(Box::new(fb::TransposeConvOptionsT {
                padding: Padding::VALID,
                stride_w: 2,
                stride_h: 2,
                ..Default::default()
            })),
            vec![ci(&[1, 13, 11, 3]), cf(&[3, 3, 3, 4], 12), x(&s), cf(&[3], 13)],
            &[1, 13, 11, 3],
        ),
        case(
            "batch_matmul_adj_y_bcast",
            B::BATCH_MATMUL,
            Opt::BatchMatMulOptions(Box::new(fb::BatchMatMulOptionsT {
                adj_x: false,
                adj_y: true,
                ..Default::default()
            })),
            vec![x(&[2, 3, 4]), x(&[1, 5, 4])],
            &[2, 3, 5],
        ),
        case(
            "dequantize_int8_per_channel",
            B::ADD,
            Opt::AddOptions(Box::default()),
            vec![
                x(&s),
                Some((
                    vec![6, 1, 4],
                    Data::I8(
                        (0..24).map(|i| (i * 11 % 255 - 127) as i8).collect(),
                        vec![0.01, 0.02, 0.03, 0.04, 0.05, 0.06],
                        0,
                    ),
                )),
            ],
            &s,
        ),
    ]
}

#[test]
fn single_op_models_agree_with_official_interpreter() {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (k, c) in cases().iter().enumerate() {
        let model = build(c);
        let d = dir.path().join(c.name);
        std::fs::create_dir_all(&d).unwrap();
        let path = d.join("model.tflite");
        tflq::save(&model, &path, &Default::default()).unwrap();
        // Inputs, in subgraph order.
        let sg = &model.subgraphs[0];
        let mut inputs = Vec::new();
        let mut ranges = c.inputs.iter().flatten().filter_map(|(_, data)| match data {
            Data::Input(lo, hi) => Some((*lo, *hi)),
            _ => None,
        });
        for (i, &t) in sg.inputs.iter().enumerate() {
            let shape: Vec<usize> = sg.tensors[t as usize].shape().iter().map(|&d| d as usize).collect();
            let (lo, hi) = ranges.next().unwrap();
            let v = floats(shape.iter().product(), (k * 10 + i) as u64, lo, hi);
            write_npy_f32(&d.join(format!("input_{i}.npy")), &shape, &v);
            inputs.push(Value { shape, values: Values::F32(v) });
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
            if r > 1e-4 {
                failures.push(format!("{} output {j}: max rel diff {r:e}", c.name));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
