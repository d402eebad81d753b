//! The reference float interpreter against the official interpreter (ai-edge-litert).

mod common;

use common::{as_f32, float_fixture, name, npy_value, rel_diff, testdata, tflite_fixtures};
use tflq::interp::{InterpError, Interpreter, Value, Values};
use tflq::schema::BuiltinOperator;

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
        let input = Value { shape, values: Values::F32(xs[s * per..(s + 1) * per].to_vec().into()) };
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
            c.builtin = BuiltinOperator::LSH_PROJECTION;
        }
    }
    let err = Interpreter::new(&model, 0).err().expect("LSH_PROJECTION must be refused");
    assert!(
        matches!(&err, InterpError::UnsupportedOps { ops } if ops.iter().all(|o| o == "LSH_PROJECTION")),
        "{err:?}"
    );
    let msg = err.to_string();
    assert_eq!(msg, "unsupported ops for the float interpreter: LSH_PROJECTION (3 ops)");

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
    let good = || Value { shape: vec![1, 64], values: Values::F32(vec![0.5; 64].into()) };
    assert!(interp.run(vec![good()]).is_ok());

    let e = interp.run(vec![]).unwrap_err();
    assert!(matches!(e, InterpError::InputCount { expected: 1, got: 0 }), "{e:?}");
    let e = interp.run(vec![good(), good()]).unwrap_err();
    assert!(matches!(e, InterpError::InputCount { expected: 1, got: 2 }), "{e:?}");

    let e = interp.run(vec![Value { shape: vec![1, 63], values: Values::F32(vec![0.5; 63].into()) }]).unwrap_err();
    assert!(matches!(&e, InterpError::InputShape { index: 0, got, .. } if got == &vec![1, 63]), "{e:?}");
    assert!(e.to_string().contains("64]"), "{e}");

    let e = interp.run(vec![Value { shape: vec![1, 64], values: Values::I32(vec![1; 64].into()) }]).unwrap_err();
    assert!(matches!(e, InterpError::InputType { index: 0, .. }), "{e:?}");

    let e = interp.run(vec![Value { shape: vec![1, 64], values: Values::F32(vec![0.5; 10].into()) }]).unwrap_err();
    assert!(matches!(e, InterpError::InputData { .. }), "{e:?}");

    assert!(matches!(Interpreter::new(&model, 7), Err(InterpError::NoSubgraph { index: 7, .. })));
}

#[test]
fn observe_sees_every_input_and_operator_output() {
    let model = tflq::load(&testdata("cnn.float16.tflite")).unwrap();
    let interp = Interpreter::new(&model, 0).unwrap();
    let sg = &model.subgraphs[0];
    let mut seen = std::collections::BTreeSet::new();
    let input = Value { shape: vec![1, 32, 32, 3], values: Values::F32(vec![0.25; 32 * 32 * 3].into()) };
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
