//! Frozen graphs of a few hundred bytes that describe gigabytes (a Reshape to 268M elements,
//! a Pack of 8192 big fills, a 16M-dimension shape): each gives one short error line within a
//! 4 GiB address-space limit, and writes nothing.

mod common;

use common::node;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tflq::graphdef::proto::{attr_value, Dim, GraphDef, NodeDef, TensorProto, TensorShapeProto};

fn shape(dims: &[i64]) -> TensorShapeProto {
    TensorShapeProto { dim: dims.iter().map(|&d| Dim { size: d, name: String::new() }).collect(), unknown_rank: false }
}

fn placeholder(name: &str, dims: &[i64]) -> NodeDef {
    node(
        name,
        "Placeholder",
        &[],
        vec![("dtype", attr_value::Value::Type(1)), ("shape", attr_value::Value::Shape(shape(dims)))],
    )
}

/// An int32 constant of `dims` whose elements are all `v` (one typed value, filled).
fn fill_const(name: &str, dims: &[i64], v: i32) -> NodeDef {
    let t = TensorProto { dtype: 3, tensor_shape: Some(shape(dims)), int_val: vec![v], ..Default::default() };
    node(name, "Const", &[], vec![("value", attr_value::Value::Tensor(t)), ("dtype", attr_value::Value::Type(3))])
}

fn write_graph(dir: &Path, name: &str, nodes: Vec<NodeDef>) -> PathBuf {
    let g = GraphDef { node: nodes, versions: None, version: 0, library: None };
    let p = dir.join(name);
    std::fs::write(&p, prost::Message::encode_to_vec(&g)).unwrap();
    p
}

fn tflq_limited(args: &[&std::ffi::OsStr]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tflq"));
    cmd.args(args);
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: setrlimit is async-signal-safe; the closure allocates nothing.
        unsafe {
            cmd.pre_exec(|| {
                let lim = libc::rlimit { rlim_cur: 4 << 30, rlim_max: 4 << 30 };
                if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    cmd.output().expect("tflq runs")
}

#[test]
fn tiny_graphs_describing_gigabytes_fail_with_one_short_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "reshape_268m",
            vec![
                placeholder("x", &[1, 4]),
                fill_const("s", &[1 << 28], 1),
                node("r", "Reshape", &["x", "s"], vec![("T", attr_value::Value::Type(1))]),
            ],
        ),
        (
            "reshape_16m_dims",
            vec![
                placeholder("x", &[1, 4]),
                fill_const("s", &[1 << 24], 1),
                node("r", "Reshape", &["x", "s"], vec![("T", attr_value::Value::Type(1))]),
            ],
        ),
        ("pack_8192_fills", {
            let mut nodes = vec![placeholder("x", &[1, 4]), fill_const("f", &[1 << 20], 7)];
            let inputs: Vec<String> = (0..8192).map(|_| "f".to_string()).collect();
            let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
            nodes.push(node(
                "p",
                "Pack",
                &refs,
                vec![
                    ("N", attr_value::Value::I(8192)),
                    ("T", attr_value::Value::Type(3)),
                    ("axis", attr_value::Value::I(0)),
                ],
            ));
            nodes.push(node(
                "c",
                "Cast",
                &["p"],
                vec![("SrcT", attr_value::Value::Type(3)), ("DstT", attr_value::Value::Type(1))],
            ));
            nodes.push(node("y", "AddV2", &["x", "c"], vec![("T", attr_value::Value::Type(1))]));
            nodes
        }),
    ];
    for (name, nodes) in cases {
        let pb = write_graph(dir.path(), &format!("{name}.pb"), nodes);
        let out = dir.path().join(format!("{name}.tflite"));
        let r = tflq_limited(&["convert".as_ref(), pb.as_os_str(), "-o".as_ref(), out.as_os_str()]);
        let err = String::from_utf8_lossy(&r.stderr);
        let shown: String = err.chars().take(400).collect();
        assert_eq!(r.status.code(), Some(1), "{name} ({} bytes): {shown}", std::fs::metadata(&pb).unwrap().len());
        assert!(err.lines().count() == 1 && err.len() < 300, "{name}: {} bytes of error: {shown}", err.len());
        assert!(!out.exists(), "{name}: an output was written");
    }
}
