//! The fused conv → depthwise pair against the two kernels run one by one; variable tensors.
use super::*;
use crate::ir::Data;

/// TF's MobileNetV2 block fixture (1×1 expand → depthwise → project) widened from 24 to 32
/// channels, so that the expand/depthwise pair qualifies for fusion.
fn widened_block() -> Model {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/gd_mnv2_block.tf.tflite");
    let mut m = crate::load(&path).expect("fixture loads");
    let sg = &mut m.subgraphs[0];
    let mut seed = 7u32;
    let mut next = move || {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
    };
    let mut new_buffers = Vec::new();
    let has_data: Vec<bool> = m.buffers.iter().map(|b| !b.data.as_bytes().is_empty()).collect();
    for t in sg.tensors.iter_mut() {
        let Some(shape) = t.shape.as_mut() else { continue };
        if !shape.contains(&24) {
            continue;
        }
        shape.iter_mut().filter(|d| **d == 24).for_each(|d| *d = 32);
        t.shape_signature = None;
        if has_data[t.buffer as usize] {
            let n: i32 = shape.iter().product();
            let bytes: Vec<u8> = (0..n).flat_map(|_| next().to_le_bytes()).collect();
            new_buffers.push((t.buffer as usize, bytes));
        }
    }
    for (b, bytes) in new_buffers {
        m.buffers[b].data = Data::from(bytes);
    }
    m
}

#[test]
fn fused_runs_match_unfused_runs() {
    let model = widened_block();
    let mut interp = Interpreter::new(&model, 0).unwrap();
    assert!(interp.graph(0).steps.iter().any(|s| s.fuse_next), "the expand/depthwise pair should be marked");
    interp.fuse_min_elements = 0;
    let n = 16 * 16 * 8;
    let x: Vec<f32> = (0..n).map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0).collect();
    let input = || vec![Value::f32(vec![1, 16, 16, 8], x.clone())];
    let mut plain: Vec<Option<Range>> = vec![None; model.subgraphs[0].tensors.len()];
    let want = interp
        .run_observed(input(), &mut |t, v| {
            let f = v.as_f32().unwrap();
            plain[t] = Some((
                f.iter().copied().fold(f32::INFINITY, f32::min),
                f.iter().copied().fold(f32::NEG_INFINITY, f32::max),
            ));
        })
        .unwrap();
    let mut fused_mid = Vec::new();
    let mut fused: Vec<Option<Range>> = vec![None; plain.len()];
    let outputs: Vec<usize> = interp.outputs().iter().map(|&t| t as usize).collect();
    let mut got = Vec::new();
    interp
        .run_ranged(input(), &mut |_, t, v, r| {
            if v.is_none() {
                fused_mid.push(t);
            }
            if let Some(v) = v.filter(|_| outputs.contains(&t)) {
                got.push(v.clone());
            }
            fused[t] = r.or_else(|| {
                let f = v?.as_f32()?;
                Some((
                    f.iter().copied().fold(f32::INFINITY, f32::min),
                    f.iter().copied().fold(f32::NEG_INFINITY, f32::max),
                ))
            });
        })
        .unwrap();
    assert_eq!(got, want);
    assert_eq!(fused_mid.len(), 1, "one intermediate computed without being stored");
    assert_eq!(fused, plain, "every tensor's range, the fused intermediate's included");
}

/// A model whose ADD ops (one, or two sharing it) read variable tensor 1 alongside input 0.
fn with_variable(readers: usize) -> Model {
    use crate::ir::{Operator, OperatorCode, Subgraph, Tensor};
    use crate::schema::BuiltinOperator;
    let t = |name: &str, variable| Tensor {
        name: Some(name.into()),
        shape: Some(vec![2, 3]),
        is_variable: variable,
        ..Tensor::default()
    };
    let mut sg = Subgraph { tensors: vec![t("x", false), t("state", true)], inputs: vec![0], ..Subgraph::default() };
    for r in 0..readers {
        sg.tensors.push(t(&format!("out{r}"), false));
        let out = sg.tensors.len() as i32 - 1;
        sg.operators.push(Operator { opcode_index: 0, inputs: vec![0, 1], outputs: vec![out], ..Operator::default() });
        sg.outputs.push(out);
    }
    let code = OperatorCode { builtin: BuiltinOperator::ADD, custom_code: None, version: 1 };
    Model { operator_codes: vec![code], subgraphs: vec![sg], buffers: vec![Default::default()], ..Model::default() }
}

#[test]
fn a_variable_tensor_without_data_starts_at_zero() {
    let model = with_variable(1);
    let interp = Interpreter::new(&model, 0).unwrap();
    let out = interp.run(vec![Value::f32(vec![2, 3], vec![1.0, -2.0, 3.0, 0.5, 0.0, 7.0])]).unwrap();
    assert_eq!(out[0].as_f32().unwrap(), [1.0, -2.0, 3.0, 0.5, 0.0, 7.0]);
}

#[test]
fn a_variable_tensor_shared_by_two_ops_is_refused() {
    let err = Interpreter::new(&with_variable(2), 0).err().expect("refused");
    assert!(err.to_string().contains("variable tensor 1 'state' is the state of 2 operators"), "{err}");
}
