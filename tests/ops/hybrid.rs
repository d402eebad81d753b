//! tflq's dynamic-range (hybrid) kernels against LiteRT's built-in hybrid kernels (XNNPACK off).
//!
//! Every case whose op has a hybrid form and a constant float weight is quantized by
//! `tflq convert --quantize dynamic` (per channel, and with `--per-tensor`), then run on the same
//! float inputs in tflq's interpreter and in LiteRT's `builtin` resolver. The float outputs must
//! be bit-identical: [`MAX_ULP`] is 0. LiteRT's x86 hybrid kernels take every float operation
//! one element at a time in a fixed order (SIMD lanes hold different outputs, never parts of one
//! sum), and their int8 dot products are exact i32 sums, so nothing forces a tolerance; tflq
//! follows even their integer quirks (weight row sums in wrapping i16 lanes). The same models
//! also run in LiteRT's default resolver (XNNPACK), and the largest relative difference between
//! LiteRT's two paths is printed per op and mode: large (around 10) only for the `deep_positive`
//! cases, whose row sums LiteRT's builtin kernels wrap and XNNPACK does not.

use super::exact::run_litert;
use super::*;
use common::{read_npy, tflq};
use std::collections::BTreeMap;
use tflq::ops::registry;

/// Largest difference allowed, in units in the last place, between tflq and LiteRT builtin.
const MAX_ULP: u32 = 0;

/// Input samples per case (each its own LiteRT run).
const SAMPLES: u64 = 3;

struct Mode {
    name: &'static str,
    args: &'static [&'static str],
    /// Clears `asymmetric_quantize_inputs` (which tflq, like TF, sets) after converting, for
    /// the symmetric input quantizer of FULLY_CONNECTED and BATCH_MATMUL.
    symmetric_inputs: bool,
}

const MODES: [Mode; 3] = [
    Mode {
        name: "per-channel",
        args: &["--quantize", "dynamic", "--min-weight-elements", "1"],
        symmetric_inputs: false,
    },
    Mode {
        name: "per-tensor",
        args: &["--quantize", "dynamic", "--min-weight-elements", "1", "--per-tensor"],
        symmetric_inputs: false,
    },
    Mode {
        name: "symmetric-in",
        args: &["--quantize", "dynamic", "--min-weight-elements", "1"],
        symmetric_inputs: true,
    },
];

/// Clears the asymmetric-inputs flag of every op; whether there was one to clear.
fn make_inputs_symmetric(model: &mut Model) -> bool {
    let mut any = false;
    for op in &mut model.subgraphs[0].operators {
        match &mut op.builtin_options {
            Opt::FullyConnectedOptions(o) => {
                any |= o.asymmetric_quantize_inputs;
                o.asymmetric_quantize_inputs = false;
            }
            Opt::BatchMatMulOptions(o) => {
                any |= o.asymmetric_quantize_inputs;
                o.asymmetric_quantize_inputs = false;
            }
            _ => {}
        }
    }
    any
}

/// LiteRT's hybrid DEPTHWISE_CONV_2D reads one weight scale per output channel (past the end
/// of a per-tensor array: garbage around 1e26, changing from run to run), so tflq keeps its
/// weights per channel under --per-tensor; tflq's interpreter refuses a per-tensor one.
fn per_channel_anyway(c: &Case, mode: &str) -> bool {
    mode == "per-tensor" && c.op == BuiltinOperator::DEPTHWISE_CONV_2D
}

/// Distance in ULPs between two floats (0 for identical bits; NaNs compare by bits).
pub fn ulps(a: f32, b: f32) -> u32 {
    let key = |x: f32| {
        let i = x.to_bits() as i32;
        if i < 0 {
            i64::from(i32::MIN) - i64::from(i)
        } else {
            i64::from(i)
        }
    };
    (key(a) - key(b)).unsigned_abs().min(u64::from(u32::MAX)) as u32
}

fn f32s_of(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// Whether the op has a hybrid form with a constant float weight in this case.
fn hybrid_case(c: &Case) -> bool {
    let Some(def) = registry().builtin(c.op) else { return false };
    let Some((slot, _)) = def
        .weights()
        .or_else(|| def.roles.iter().find_map(|&(s, r)| matches!(r, tflq::ops::Role::Table).then_some((s, None))))
    else {
        return false;
    };
    def.hybrid.is_some()
        && c.out_types.iter().all(|&t| t == TensorType::FLOAT32)
        && matches!(c.inputs.get(slot), Some(Some((_, Data::F32(_)))))
}

/// Per (op, mode): (bit-identical cases, cases, largest ULP vs builtin, largest relative
/// difference builtin vs XNNPACK).
type Table = BTreeMap<(String, &'static str), (usize, usize, u32, f32)>;

pub fn check(cases: Vec<Case>) {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut table = Table::new();
    for (k, c) in cases.iter().enumerate().filter(|(_, c)| hybrid_case(c)) {
        let model = build(c);
        let d = dir.path().join(c.name);
        std::fs::create_dir_all(&d).unwrap();
        let float = d.join("float.tflite");
        tflq::save(&model, &float, &Default::default()).unwrap();
        let op = format!("{:?}", c.op);
        for mode in &MODES {
            let md = d.join(mode.name);
            std::fs::create_dir_all(&md).unwrap();
            let q = md.join("model.tflite");
            let mut args: Vec<std::ffi::OsString> =
                vec!["convert".into(), float.clone().into(), "-o".into(), q.clone().into()];
            args.extend(mode.args.iter().map(Into::into));
            let r = tflq(&args);
            if !r.status.success() {
                failures.push(format!(
                    "{} {}: convert: {}",
                    c.name,
                    mode.name,
                    String::from_utf8_lossy(&r.stderr).trim()
                ));
                continue;
            }
            let mut loaded = tflq::load(&q).unwrap();
            if mode.symmetric_inputs {
                if !make_inputs_symmetric(&mut loaded) {
                    continue;
                }
                tflq::save(&loaded, &q, &Default::default()).unwrap();
            }
            let sg = &loaded.subgraphs[0];
            if !sg.tensors.iter().any(|t| t.dtype == TensorType::INT8 && !loaded.tensor_bytes(t).is_empty()) {
                failures.push(format!("{} {}: no INT8 weights were written", c.name, mode.name));
                continue;
            }
            let interp = Interpreter::new(&loaded, 0);
            if per_channel_anyway(c, mode.name) {
                let w = sg.tensors.iter().find(|t| t.dtype == TensorType::INT8 && !loaded.tensor_bytes(t).is_empty());
                let scales = w.and_then(|t| t.quantization.as_ref()).map_or(0, |q| q.scales().len());
                if scales < 2 {
                    failures
                        .push(format!("{} {}: depthwise weights written with {scales} scale(s)", c.name, mode.name));
                    continue;
                }
            }
            let interp = match interp {
                Ok(i) => i,
                Err(e) => {
                    failures.push(format!("{} {}: tflq: {e}", c.name, mode.name));
                    continue;
                }
            };
            let entry = table.entry((op.clone(), mode.name)).or_insert((0, 0, 0, 0.0));
            entry.1 += 1;
            let mut case_ulp = 0u32;
            for s in 0..SAMPLES {
                let sd = md.join(format!("s{s}"));
                std::fs::create_dir_all(&sd).unwrap();
                let paths = super::integer::write_inputs(c, &loaded, &sd, "input_", 1, (k as u64 + 1) * 10 + s);
                let inputs: Vec<Value> = paths.iter().map(|p| npy_value(p)).collect();
                let got = match interp.run(inputs) {
                    Ok(g) => g,
                    Err(e) => {
                        failures.push(format!("{} {} sample {s}: tflq: {e}", c.name, mode.name));
                        case_ulp = u32::MAX;
                        break;
                    }
                };
                let (builtin, default) = (sd.join("builtin"), sd.join("default"));
                if let Err(e) = run_litert("builtin", &q, &sd, &builtin) {
                    failures.push(format!("{} {}: LiteRT builtin: {e}", c.name, mode.name));
                    case_ulp = u32::MAX;
                    break;
                }
                let xnn = run_litert("default", &q, &sd, &default);
                for (j, g) in got.iter().enumerate() {
                    let (descr, shape, want) = read_npy(&builtin.join(format!("m0/output_{j}.npy")));
                    let gv = as_f32(g);
                    if descr != "<f4" || shape != g.shape {
                        failures.push(format!(
                            "{} {}: output {j} is {descr}{shape:?}, tflq's {:?}",
                            c.name, mode.name, g.shape
                        ));
                        case_ulp = u32::MAX;
                        continue;
                    }
                    let want = f32s_of(&want);
                    let u = want.iter().zip(&gv).map(|(&a, &b)| ulps(a, b)).max().unwrap_or(0);
                    if u > MAX_ULP {
                        let n = want.iter().zip(&gv).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
                        failures.push(format!(
                            "{} {} sample {s} output {j}: {n}/{} differ, up to {u} ULP (first: {:?} vs LiteRT {:?})",
                            c.name,
                            mode.name,
                            want.len(),
                            &gv[..gv.len().min(4)],
                            &want[..want.len().min(4)]
                        ));
                    }
                    case_ulp = case_ulp.max(u);
                    if xnn.is_ok() {
                        let x = f32s_of(&read_npy(&default.join(format!("m0/output_{j}.npy"))).2);
                        entry.3 = entry.3.max(rel_diff(&x, &want));
                    }
                }
            }
            entry.2 = entry.2.max(case_ulp);
            if case_ulp == 0 {
                entry.0 += 1;
            }
            let verdict = match case_ulp {
                0 => "bit-identical".to_string(),
                u32::MAX => "FAILED".to_string(),
                u => format!("{u} ULP"),
            };
            eprintln!("{:28} {:12} {verdict}", c.name, mode.name);
        }
    }
    eprintln!("\nop | mode | bit-identical cases | max ULP vs builtin | max rel diff builtin vs XNNPACK");
    for ((op, mode), (ok, n, u, x)) in &table {
        eprintln!("{op} | {mode} | {ok}/{n} | {u} | {x:.2e}");
    }
    let ops: std::collections::BTreeSet<&String> = table.keys().map(|k| &k.0).collect();
    assert!(ops.len() >= 5, "only {} hybrid ops checked: {ops:?}", ops.len());
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

/// Cases that reach the hybrid kernels' other paths: batches, activations, 1×1 convolutions,
/// channel counts that are not multiples of 4, symmetric and asymmetric inputs, adjoints.
pub fn cases() -> Vec<Case> {
    use BuiltinOperator as B;
    let fc = |keep: bool, act: Act, asym: bool| {
        Opt::FullyConnectedOptions(Box::new(fb::FullyConnectedOptionsT {
            keep_num_dims: keep,
            fused_activation_function: act,
            asymmetric_quantize_inputs: asym,
            ..Default::default()
        }))
    };
    let dw = |stride: i32, mult: i32, act: Act| {
        Opt::DepthwiseConv2DOptions(Box::new(fb::DepthwiseConv2DOptionsT {
            padding: Padding::SAME,
            stride_w: stride,
            stride_h: stride,
            depth_multiplier: mult,
            fused_activation_function: act,
            dilation_w_factor: 1,
            dilation_h_factor: 1,
        }))
    };
    let bmm = |adj_x: bool, adj_y: bool| {
        Opt::BatchMatMulOptions(Box::new(fb::BatchMatMulOptionsT { adj_x, adj_y, ..Default::default() }))
    };
    vec![
        case(
            "hy_fc_batch5_relu",
            B::FULLY_CONNECTED,
            fc(false, Act::RELU, false),
            vec![x(&[5, 37]), cf(&[9, 37], 21), cf(&[9], 22)],
            &[5, 9],
        ),
        case(
            "hy_fc_wide_relu6",
            B::FULLY_CONNECTED,
            fc(false, Act::RELU6, false),
            vec![x(&[2, 300]), cf(&[16, 300], 23), cf(&[16], 24)],
            &[2, 16],
        ),
        case(
            "hy_fc_keep_dims",
            B::FULLY_CONNECTED,
            fc(true, Act::NONE, false),
            vec![x(&[2, 3, 20]), cf(&[6, 20], 25), None],
            &[2, 3, 6],
        ),
        case(
            "hy_conv_1x1",
            B::CONV_2D,
            conv(Padding::VALID, 1, 1, Act::NONE),
            vec![x(&[2, 5, 4, 6]), cf(&[7, 1, 1, 6], 26), cf(&[7], 27)],
            &[2, 5, 4, 7],
        ),
        case(
            "hy_conv_same_relu_b2",
            B::CONV_2D,
            conv(Padding::SAME, 1, 1, Act::RELU),
            vec![x(&[2, 7, 6, 5]), cf(&[8, 3, 3, 5], 28), cf(&[8], 29)],
            &[2, 7, 6, 8],
        ),
        case(
            "hy_conv_dilated_same",
            B::CONV_2D,
            conv(Padding::SAME, 1, 2, Act::RELU_N1_TO_1),
            vec![x(&[1, 8, 8, 3]), cf(&[4, 3, 3, 3], 30), cf(&[4], 31)],
            &[1, 8, 8, 4],
        ),
        case(
            "hy_depthwise_c6_b2",
            B::DEPTHWISE_CONV_2D,
            dw(1, 1, Act::RELU6),
            vec![x(&[2, 6, 5, 6]), cf(&[1, 3, 3, 6], 32), cf(&[6], 33)],
            &[2, 6, 5, 6],
        ),
        case(
            "hy_depthwise_mult3",
            B::DEPTHWISE_CONV_2D,
            dw(2, 3, Act::NONE),
            vec![x(&[1, 7, 7, 3]), cf(&[1, 3, 3, 9], 34), cf(&[9], 35)],
            &[1, 4, 4, 9],
        ),
        case(
            "hy_transpose_conv_same",
            B::TRANSPOSE_CONV,
            Opt::TransposeConvOptions(Box::new(fb::TransposeConvOptionsT {
                padding: Padding::SAME,
                stride_w: 2,
                stride_h: 2,
                fused_activation_function: Act::RELU,
                ..Default::default()
            })),
            vec![ci(&[2, 8, 6, 5]), cf(&[5, 3, 3, 4], 36), x(&[2, 4, 3, 4]), cf(&[5], 37)],
            &[2, 8, 6, 5],
        ),
        case(
            "hy_gather_table",
            B::GATHER,
            Opt::GatherOptions(Box::new(fb::GatherOptionsT { axis: 0, batch_dims: 0 })),
            vec![cf(&[10, 6], 41), Some((vec![4], Data::Ids(0, 10)))],
            &[4, 6],
        ),
        // Inputs of one sign put the asymmetric zero point at -128 or 127; zeros skip the product.
        case(
            "hy_conv_positive_in",
            B::CONV_2D,
            conv(Padding::SAME, 2, 1, Act::NONE),
            vec![pos(&[1, 6, 6, 3]), cf(&[5, 3, 3, 3], 44), cf(&[5], 45)],
            &[1, 3, 3, 5],
        ),
        case(
            "hy_fc_negative_in",
            B::FULLY_CONNECTED,
            fc(false, Act::NONE, false),
            vec![Some((vec![3, 10], Data::Input(-4.0, -0.1))), cf(&[4, 10], 46), cf(&[4], 47)],
            &[3, 4],
        ),
        case(
            "hy_fc_zero_in",
            B::FULLY_CONNECTED,
            fc(false, Act::RELU, false),
            vec![Some((vec![2, 8], Data::Input(0.0, 0.0))), cf(&[3, 8], 42), cf(&[3], 43)],
            &[2, 3],
        ),
        case(
            "hy_conv_zero_in",
            B::CONV_2D,
            conv(Padding::SAME, 1, 1, Act::NONE),
            vec![Some((vec![1, 4, 4, 2], Data::Input(0.0, 0.0))), cf(&[3, 3, 3, 2], 48), cf(&[3], 49)],
            &[1, 4, 4, 3],
        ),
        case(
            "hy_depthwise_zero_in",
            B::DEPTHWISE_CONV_2D,
            dw(1, 1, Act::NONE),
            vec![Some((vec![1, 4, 4, 5], Data::Input(0.0, 0.0))), cf(&[1, 3, 3, 5], 50), cf(&[5], 51)],
            &[1, 4, 4, 5],
        ),
        // Deep rows of positive weights: LiteRT's SSE row sums wrap in i16 lanes, and its
        // BATCH_MATMUL correction float(dot) − row sum·zp is past 2^24 and rounds.
        case(
            "hy_fc_deep_positive_w",
            B::FULLY_CONNECTED,
            fc(false, Act::NONE, false),
            vec![
                Some((vec![2, 5000], Data::Input(-1.3, 3.0))),
                Some((vec![4, 5000], Data::F32(floats(20000, 53, 0.5, 1.0)))),
                cf(&[4], 54),
            ],
            &[2, 4],
        ),
        case(
            "hy_conv_deep_positive_w",
            B::CONV_2D,
            conv(Padding::SAME, 1, 1, Act::NONE),
            vec![
                Some((vec![1, 3, 3, 520], Data::Input(-1.3, 3.0))),
                Some((vec![4, 3, 3, 520], Data::F32(floats(4 * 9 * 520, 55, 0.5, 1.0)))),
                cf(&[4], 56),
            ],
            &[1, 3, 3, 4],
        ),
        case(
            "hy_bmm_deep",
            B::BATCH_MATMUL,
            bmm(false, false),
            vec![
                Some((vec![1, 2, 5000], Data::Input(-1.3, 3.0))),
                Some((vec![5000, 4], Data::F32(floats(20000, 52, 0.5, 1.0)))),
            ],
            &[1, 2, 4],
        ),
        case("hy_bmm", B::BATCH_MATMUL, bmm(false, false), vec![x(&[2, 3, 8]), cf(&[8, 5], 38)], &[2, 3, 5]),
        case("hy_bmm_adj", B::BATCH_MATMUL, bmm(true, true), vec![x(&[2, 8, 3]), cf(&[5, 8], 39)], &[2, 3, 5]),
        // Two batch dimensions: LiteRT indexes the per-row input scales as b1·M + b2·M + row.
        case(
            "hy_bmm_two_batch_dims",
            B::BATCH_MATMUL,
            bmm(false, false),
            vec![x(&[2, 3, 4, 8]), cf(&[8, 5], 57)],
            &[2, 3, 4, 5],
        ),
        // y [1, K, N] folds x's two last batch dimensions into its rows first.
        case(
            "hy_bmm_folded",
            B::BATCH_MATMUL,
            bmm(false, false),
            vec![x(&[2, 3, 4, 8]), cf(&[1, 8, 5], 58)],
            &[2, 3, 4, 5],
        ),
        case(
            "hy_bmm_batched_w",
            B::BATCH_MATMUL,
            bmm(false, false),
            vec![x(&[2, 3, 8]), cf(&[2, 8, 5], 40)],
            &[2, 3, 5],
        ),
    ]
}

/// LiteRT builtin run with every tensor kept: writes each FLOAT32 tensor `i` as `t{i}.npy`.
const DUMP_ALL: &str = r#"
import sys, numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType
it = Interpreter(model_path=sys.argv[1], experimental_preserve_all_tensors=True,
                 experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
it.allocate_tensors()
it.set_tensor(it.get_input_details()[0]['index'], np.load(sys.argv[2]))
it.invoke()
for d in it.get_tensor_details():
    try:
        v = it.get_tensor(d['index'])
    except ValueError:
        continue
    if v.dtype == np.float32:
        np.save('%s/t%d.npy' % (sys.argv[3], d['index']), v)
"#;

/// Operator `oi` of subgraph 0 alone: its computed inputs become the model's inputs.
fn one_op(model: &Model, oi: usize) -> Model {
    let mut m = model.clone();
    let sg = &mut m.subgraphs[0];
    let op = sg.operators[oi].clone();
    sg.inputs = op
        .inputs
        .iter()
        .copied()
        .filter(|&t| t >= 0 && model.tensor_bytes(&sg.tensors[t as usize]).is_empty())
        .collect();
    sg.outputs = op.outputs.clone();
    sg.operators = vec![op];
    m
}

/// Whether operator `op` runs a hybrid kernel: a float op reading an INT8 constant.
fn is_hybrid_op(model: &Model, op: &Operator) -> bool {
    let sg = &model.subgraphs[0];
    let def = model.operator_codes.get(op.opcode_index as usize).and_then(tflq::ops::of_code);
    let tensor = |t: i32| usize::try_from(t).ok().and_then(|t| sg.tensors.get(t));
    def.is_some_and(|d| d.hybrid.is_some())
        && op.outputs.iter().filter_map(|&t| tensor(t)).all(|t| t.dtype == TensorType::FLOAT32)
        && op
            .inputs
            .iter()
            .filter_map(|&t| tensor(t))
            .any(|t| t.dtype == TensorType::INT8 && !model.tensor_bytes(t).is_empty())
}

/// Most the whole models' outputs may differ from LiteRT builtin (max abs difference over max
/// abs reference). Not 0: their small layers stay float (under `--min-weight-elements`), and
/// tflq's float CONV_2D and FULLY_CONNECTED sum in another order than LiteRT's (ruy) GEMM, as
/// every float kernel may within the agreement tests' tolerance. The hybrid ops themselves are
/// checked bit for bit on LiteRT's own inputs.
const WHOLE_MODEL_TOLERANCE: f32 = 1e-5;

/// Whole models: testdata/cnn.dynamic.tflite (TF's converter wrote it) and testdata/cnn.tflite
/// quantized by `tflq convert --quantize dynamic`, on test samples. Each hybrid op, run alone on
/// the inputs LiteRT builtin gave it, must give LiteRT's output within [`MAX_ULP`]; the model
/// output within [`WHOLE_MODEL_TOLERANCE`]. Prints the largest relative difference from XNNPACK.
pub fn cnn() {
    let dir = tempfile::tempdir().unwrap();
    let x = npy_value(&common::testdata("cnn.test_x.npy"));
    let xs = x.as_f32().unwrap();
    let per: usize = x.shape[1..].iter().product();
    let convert = |out: &str, extra: &[&str]| {
        let path = dir.path().join(out);
        let mut a: Vec<std::ffi::OsString> =
            vec!["convert".into(), common::testdata("cnn.tflite").into(), "-o".into(), path.clone().into()];
        a.extend(["--quantize", "dynamic"].iter().chain(extra).map(Into::into));
        common::tflq_ok(&a);
        path
    };
    let models = [
        ("cnn.dynamic.tflite", common::testdata("cnn.dynamic.tflite")),
        ("cnn.tflite, tflq dynamic", convert("ours.tflite", &[])),
        ("cnn.tflite, tflq dynamic per-tensor", convert("ours-pt.tflite", &["--per-tensor"])),
    ];
    let mut failures = Vec::new();
    for (name, path) in models {
        let loaded = tflq::load(&path).unwrap();
        let interp = Interpreter::new(&loaded, 0).unwrap();
        let hybrid: Vec<(usize, Model)> = (0..loaded.subgraphs[0].operators.len())
            .filter(|&i| is_hybrid_op(&loaded, &loaded.subgraphs[0].operators[i]))
            .map(|i| (i, one_op(&loaded, i)))
            .collect();
        assert!(hybrid.len() >= 2, "{name}: {} hybrid ops", hybrid.len());
        let (mut op_ulp, mut worst, mut xnn_worst) = (0u32, 0f32, 0f32);
        let samples = 6;
        for s in 0..samples {
            let sd = dir.path().join(format!("{}_{s}", name.len()));
            std::fs::create_dir_all(&sd).unwrap();
            let mut shape = x.shape.clone();
            shape[0] = 1;
            let sample = &xs[s * per..(s + 1) * per];
            let input = sd.join("input_0.npy");
            write_npy_f32(&input, &shape, sample);
            let r = std::process::Command::new(common::python())
                .args(["-c", DUMP_ALL])
                .arg(&path)
                .arg(&input)
                .arg(&sd)
                .output()
                .unwrap();
            assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
            for (i, m) in &hybrid {
                let sg = &m.subgraphs[0];
                let ins = sg.inputs.iter().map(|t| npy_value(&sd.join(format!("t{t}.npy")))).collect();
                let got = Interpreter::new(m, 0).and_then(|it| it.run(ins)).unwrap();
                let want = npy_value(&sd.join(format!("t{}.npy", sg.outputs[0])));
                let u = as_f32(&want).iter().zip(as_f32(&got[0])).map(|(&a, b)| ulps(a, b)).max().unwrap_or(u32::MAX);
                if u > MAX_ULP {
                    let op = &loaded.operator_codes[sg.operators[0].opcode_index as usize];
                    failures.push(format!("{name} sample {s}: operator {i} ({}) is {u} ULP from LiteRT", op.name()));
                }
                op_ulp = op_ulp.max(u);
            }
            let got = interp.run(vec![Value::f32(shape, sample.to_vec())]).unwrap();
            run_litert("default", &path, &sd, &sd.join("default")).unwrap();
            let out = loaded.subgraphs[0].outputs[0];
            let want = as_f32(&npy_value(&sd.join(format!("t{out}.npy"))));
            let xnn = f32s_of(&read_npy(&sd.join("default/m0/output_0.npy")).2);
            worst = worst.max(rel_diff(&as_f32(&got[0]), &want));
            xnn_worst = xnn_worst.max(rel_diff(&xnn, &want));
        }
        eprintln!(
            "{name}: {} hybrid ops, max {op_ulp} ULP from LiteRT builtin on its inputs; whole model max rel diff {worst:.2e} (builtin vs XNNPACK {xnn_worst:.2e}), {samples} samples",
            hybrid.len()
        );
        if worst > WHOLE_MODEL_TOLERANCE {
            failures.push(format!("{name}: output max rel diff {worst:e} from LiteRT builtin"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
