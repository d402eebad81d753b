//! Malformed sequence ops get errors, never panics: named errors for the common mistakes, and
//! every one-operand mutation (omitted, reshaped, retyped) of a valid op of each kind.

use crate::ir::{Operator, Tensor, Value, Values};
use crate::ops::{registry, EvalCtx, Isa, KResult, PrepareCtx};
use crate::schema::{self as fb, BuiltinOperator as B, BuiltinOptionsT as O, TensorType};

fn dtype(v: &Values) -> TensorType {
    match v {
        Values::F32(_) => TensorType::FLOAT32,
        Values::I32(_) => TensorType::INT32,
        Values::I64(_) => TensorType::INT64,
        Values::U8(_) => TensorType::UINT8,
        Values::I8(_) => TensorType::INT8,
        Values::I16(_) => TensorType::INT16,
        Values::Bool(_) => TensorType::BOOL,
        Values::C64(_) => TensorType::COMPLEX64,
    }
}

/// Prepares and runs `op` on `ins` (None: omitted) with `outputs` FLOAT32 outputs.
fn run(op: B, options: &O, ins: &[Option<Value>], outputs: usize) -> KResult<Vec<Value>> {
    let mut tensors = Vec::new();
    let mut operator = Operator { builtin_options: options.clone(), ..Operator::default() };
    for v in ins {
        operator.inputs.push(match v {
            None => -1,
            Some(v) => {
                let shape = v.shape.iter().map(|&d| d as i32).collect();
                tensors.push(Tensor { shape: Some(shape), dtype: dtype(&v.values), ..Tensor::default() });
                tensors.len() as i32 - 1
            }
        });
    }
    for _ in 0..outputs {
        tensors.push(Tensor::default());
        operator.outputs.push(tensors.len() as i32 - 1);
    }
    let constants = |_: usize| None;
    let ctx = PrepareCtx { op: &operator, tensors: &tensors, isa: Isa::best(), version: 1, constants: &constants };
    let prepare = registry().builtin(op).and_then(|d| d.kernel.as_ref()).expect("a kernel");
    let prepared = prepare(&ctx)?;
    let refs: Vec<Option<&Value>> = ins.iter().map(Option::as_ref).collect();
    prepared.kernel.eval(&refs, &mut EvalCtx::default())
}

fn f(shape: &[usize]) -> Option<Value> {
    let n: usize = shape.iter().product();
    Some(Value::f32(shape.to_vec(), (0..n).map(|i| ((i * 7919 % 23) as f32 - 11.0) / 13.0).collect::<Vec<_>>()))
}

fn i32s(shape: &[usize], v: &[i32]) -> Option<Value> {
    Some(Value::new(shape.to_vec(), Values::I32(v.to_vec().into())))
}

/// The 20 weight-and-state slots (1..=19) of an LSTM direction: `cells` cells over `n` inputs,
/// `batch` rows, peepholes and a projection to 3.
fn lstm_direction(n: usize, cells: usize, batch: usize) -> Vec<Option<Value>> {
    let mut v = Vec::new();
    (0..4).for_each(|_| v.push(f(&[cells, n])));
    (0..4).for_each(|_| v.push(f(&[cells, 3])));
    (0..3).for_each(|_| v.push(f(&[cells])));
    (0..4).for_each(|_| v.push(f(&[cells])));
    v.push(f(&[3, cells]));
    v.push(f(&[3]));
    v.push(f(&[batch, 3]));
    v.push(f(&[batch, cells]));
    v
}

fn unidirectional_lstm() -> Vec<Option<Value>> {
    let mut v = vec![f(&[2, 3, 5])];
    v.extend(lstm_direction(5, 4, 2));
    (0..4).for_each(|_| v.push(f(&[4])));
    v
}

fn bidirectional_lstm() -> Vec<Option<Value>> {
    let mut d = lstm_direction(5, 4, 2);
    let states = d.split_off(17);
    let mut v = vec![f(&[3, 2, 5])];
    v.extend(d.clone());
    v.extend(d);
    v.extend(states.clone());
    v.extend(states);
    v.extend((0..9).map(|_| None));
    v
}

fn rnn(input: &[usize], cells: usize, batch: usize) -> Vec<Option<Value>> {
    vec![f(input), f(&[cells, input[input.len() - 1]]), f(&[cells, cells]), f(&[cells]), f(&[batch, cells])]
}

/// Every op of the family, valid: (op, options, inputs, outputs).
fn valid_ops() -> Vec<(B, O, Vec<Option<Value>>, usize)> {
    let bidi_rnn = {
        let mut v = rnn(&[2, 3, 4], 5, 2);
        v.extend(rnn(&[2, 3, 4], 5, 2).into_iter().skip(1));
        v.extend([None, None, None]);
        v
    };
    let mut lstm = vec![f(&[2, 5])];
    lstm.extend(lstm_direction(5, 4, 2));
    vec![
        (B::UNIDIRECTIONAL_SEQUENCE_LSTM, O::NONE, unidirectional_lstm(), 1),
        (B::LSTM, O::NONE, lstm, 1),
        (B::BIDIRECTIONAL_SEQUENCE_LSTM, O::NONE, bidirectional_lstm(), 2),
        (B::RNN, O::NONE, rnn(&[2, 4], 3, 2), 1),
        (B::UNIDIRECTIONAL_SEQUENCE_RNN, O::NONE, rnn(&[2, 3, 4], 3, 2), 1),
        (B::BIDIRECTIONAL_SEQUENCE_RNN, O::NONE, bidi_rnn, 2),
        (
            B::SVDF,
            O::SVDFOptions(Box::new(fb::SVDFOptionsT { rank: 2, ..Default::default() })),
            vec![f(&[2, 4]), f(&[6, 4]), f(&[6, 3]), f(&[3]), f(&[2, 18])],
            1,
        ),
        (B::EMBEDDING_LOOKUP, O::NONE, vec![i32s(&[3], &[2, 0, 2]), f(&[3, 2, 2])], 1),
        (
            B::EMBEDDING_LOOKUP_SPARSE,
            O::NONE,
            vec![i32s(&[3], &[1, 0, 2]), i32s(&[3, 2], &[0, 0, 0, 1, 1, 0]), i32s(&[2], &[2, 2]), f(&[3]), f(&[3, 4])],
            1,
        ),
    ]
}

#[test]
fn every_valid_op_runs() {
    for (op, options, ins, outputs) in valid_ops() {
        let outs = run(op, &options, &ins, outputs).unwrap_or_else(|e| panic!("{op:?}: {e}"));
        assert_eq!(outs.len(), outputs, "{op:?}");
    }
}

#[test]
fn every_one_operand_mutation_is_an_error_or_runs_without_panicking() {
    let shapes: [&[usize]; 7] = [&[], &[0], &[1], &[4], &[2, 0], &[3, 1, 7], &[1, 2, 3, 4]];
    for (op, options, ins, outputs) in valid_ops() {
        for slot in 0..ins.len() {
            let mut mutations: Vec<Option<Value>> = vec![None, i32s(&[2], &[1, -1])];
            mutations.extend(shapes.iter().map(|s| f(s)));
            if let Some(v) = &ins[slot] {
                // Every dimension one larger, and zero.
                mutations.push(f(&v.shape.iter().map(|d| d + 1).collect::<Vec<_>>()));
                mutations.push(f(&v.shape.iter().map(|_| 0).collect::<Vec<_>>()));
            }
            for m in mutations {
                let mut mutated = ins.clone();
                mutated[slot] = m.clone();
                let result = std::panic::catch_unwind(|| run(op, &options, &mutated, outputs).map(|_| ()));
                assert!(result.is_ok(), "{op:?}: slot {slot} = {m:?} panicked");
            }
        }
    }
}

fn error(op: B, options: &O, ins: &[Option<Value>], outputs: usize) -> String {
    match run(op, options, ins, outputs) {
        Ok(_) => panic!("{op:?} ran"),
        Err(e) => e,
    }
}

#[test]
fn malformed_lstms_are_named() {
    let u = B::UNIDIRECTIONAL_SEQUENCE_LSTM;
    let mut ins = unidirectional_lstm();
    ins[2] = None;
    assert_eq!(error(u, &O::NONE, &ins, 1), "input-to-forget weights (input 2) is missing");
    let mut ins = unidirectional_lstm();
    ins[6] = f(&[4, 4]);
    assert_eq!(error(u, &O::NONE, &ins, 1), "recurrent-to-forget weights (input 6) must have shape [4, 3], got [4, 4]");
    let mut ins = unidirectional_lstm();
    ins[3] = i32s(&[4, 5], &[0; 20]);
    assert_eq!(
        error(u, &O::NONE, &ins, 1),
        "input-to-cell weights (input 3) is I32; only FLOAT32 is supported (no hybrid kernel)"
    );
    let mut ins = unidirectional_lstm();
    ins[1] = None;
    assert!(error(u, &O::NONE, &ins, 1).contains("must both be present or both omitted (CIFG)"));
    let mut ins = unidirectional_lstm();
    ins[19] = f(&[2, 5]);
    assert_eq!(error(u, &O::NONE, &ins, 1), "cell state (input 19) must have 8 values, got shape [2, 5]");
    let mut ins = unidirectional_lstm();
    ins.truncate(23);
    assert_eq!(error(u, &O::NONE, &ins, 1), "expected 20 or 24 inputs, got 23");
    let clip = O::UnidirectionalSequenceLSTMOptions(Box::new(fb::UnidirectionalSequenceLSTMOptionsT {
        cell_clip: -1.0,
        ..Default::default()
    }));
    assert!(error(u, &clip, &unidirectional_lstm(), 1).contains("must not be negative"));
    let basic =
        O::LSTMOptions(Box::new(fb::LSTMOptionsT { kernel_type: fb::LSTMKernelType::BASIC, ..Default::default() }));
    assert!(error(B::LSTM, &basic, &[], 4).contains("kernel_type BASIC"));
    let mut ins = bidirectional_lstm();
    ins[18..35].iter_mut().zip(lstm_direction(5, 6, 2)).for_each(|(s, v)| *s = v);
    ins[37] = f(&[2, 3]);
    ins[38] = f(&[2, 6]);
    assert!(error(B::BIDIRECTIONAL_SEQUENCE_LSTM, &O::NONE, &ins, 2).contains("they must match"));
}

#[test]
fn malformed_rnns_svdfs_and_lookups_are_named() {
    let mut ins = rnn(&[2, 3, 4], 5, 2);
    let mut bidi = ins.clone();
    bidi.extend(rnn(&[2, 3, 4], 5, 2).into_iter().skip(1));
    bidi.extend([f(&[2, 3, 4]), None, None]);
    assert_eq!(
        error(B::BIDIRECTIONAL_SEQUENCE_RNN, &O::NONE, &bidi, 2),
        "auxiliary inputs (inputs 9-11) are not supported"
    );
    ins[4] = f(&[5, 2]);
    assert_eq!(
        error(B::UNIDIRECTIONAL_SEQUENCE_RNN, &O::NONE, &ins, 1),
        "hidden state (input 4) must have shape [2, 5], got [5, 2]"
    );
    let svdf = |rank| O::SVDFOptions(Box::new(fb::SVDFOptionsT { rank, ..Default::default() }));
    let ins = vec![f(&[2, 4]), f(&[6, 4]), f(&[6, 3]), None, f(&[2, 18])];
    assert_eq!(error(B::SVDF, &svdf(0), &ins, 1), "rank 0 must be positive");
    assert_eq!(error(B::SVDF, &svdf(4), &ins, 1), "6 filters do not divide into rank 4");
    let lookup = vec![i32s(&[2], &[1, 3]), f(&[3, 2])];
    assert_eq!(error(B::EMBEDDING_LOOKUP, &O::NONE, &lookup, 1), "id 3 is out of range for a table of 3 rows");
    // A dense shape of 2^60 elements is refused before anything is allocated.
    let huge =
        vec![i32s(&[1], &[0]), i32s(&[1, 3], &[0, 0, 0]), i32s(&[3], &[1 << 30, 1 << 30, 1]), f(&[1]), f(&[2, 4])];
    assert!(error(B::EMBEDDING_LOOKUP_SPARSE, &O::NONE, &huge, 1).contains("is too large"));
}
