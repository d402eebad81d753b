//! Per-sample time of the interpreter (single thread) on the CNN fixture, float and int8, and,
//! when `scripts/bench.sh` has generated it, MobileNetV2 (`bench-out/mobilenet_v2.tflite`).

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::path::Path;
use tflq::interp::{Interpreter, Value, Values};

/// A deterministic input for every subgraph input of `model` (floats in [0, 1), integers 0..10).
fn inputs(model: &tflq::Model, interp: &Interpreter) -> Vec<Value> {
    let sg = &model.subgraphs[0];
    interp
        .inputs()
        .iter()
        .map(|&t| {
            let t = &sg.tensors[t as usize];
            let shape: Vec<usize> = t.shape().iter().map(|&d| d.max(1) as usize).collect();
            let n: usize = shape.iter().product();
            let values = match t.dtype {
                tflq::schema::TensorType::INT32 => Values::I32((0..n).map(|i| (i % 10) as i32).collect()),
                tflq::schema::TensorType::INT64 => Values::I64((0..n).map(|i| (i % 10) as i64).collect()),
                _ => Values::F32((0..n).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect()),
            };
            Value { shape, values }
        })
        .collect()
}

fn bench_model(c: &mut Criterion, name: &str, path: &Path) {
    if !path.exists() {
        eprintln!("skipping {name}: {} is missing (run scripts/bench.sh)", path.display());
        return;
    }
    let model = tflq::load(path).expect("model loads");
    let interp = Interpreter::new(&model, 0).expect("model is supported");
    let sample = inputs(&model, &interp);
    c.bench_function(&format!("interp/{name}"), |b| {
        b.iter(|| black_box(interp.run(black_box(sample.clone())).expect("runs")))
    });
}

fn benches(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    bench_model(c, "cnn", &root.join("testdata/cnn.tflite"));
    // TF's int8 CNN (float I/O): the integer kernels.
    bench_model(c, "cnn_int8", &root.join("testdata/cnn.int8.tflite"));
    bench_model(c, "mobilenet_v2", &root.join("bench-out/mobilenet_v2.tflite"));
}

criterion_group! {
    name = interp;
    config = Criterion::default().sample_size(20);
    targets = benches
}
criterion_main!(interp);
