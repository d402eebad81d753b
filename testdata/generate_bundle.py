"""Writes the TensorBundle fixtures for tests/savedmodel_bundle.rs (run by hand, never in CI).

  /work/main/.venv-gen/bin/python testdata/generate_bundle.py

- savedmodel/bundle_dtypes/: a tf.Module SavedModel whose variables cover the numeric dtypes
  tflq reads, plus a string variable; its checkpoint is variables/variables.{index,data-*}.
- savedmodel/bundle_shards/: a plain tf.train.Checkpoint split over several data shards with
  MaxShardSizePolicy.
Each directory gets expected.json: for every key TF's own reader lists, the DataType number,
the shape, and either the raw little-endian bytes in hex or (DT_STRING) the hex strings.
"""

import json
import os
import shutil

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "savedmodel")


def variables():
    rng = np.random.default_rng(0)
    return {
        "w": tf.Variable(rng.standard_normal((3, 2)).astype(np.float32)),
        "d": tf.Variable(rng.standard_normal((2,)).astype(np.float64)),
        "i32": tf.Variable(np.arange(-2, 3, dtype=np.int32)),
        "i64": tf.Variable(np.int64(-(2**40) - 7)),
        "h": tf.Variable(rng.standard_normal((2, 2)).astype(np.float16)),
        "bf": tf.Variable(tf.constant([1.5, -2.25, 3.0], tf.bfloat16)),
        "u8": tf.Variable(np.array([0, 7, 255], np.uint8)),
        "i8": tf.Variable(np.array([-128, 0, 127], np.int8)),
        "i16": tf.Variable(np.array([-300, 300], np.int16)),
        "u16": tf.Variable(np.array([65535], np.uint16)),
        "u32": tf.Variable(np.array([4000000000], np.uint32)),
        "u64": tf.Variable(np.array([2**63 + 5], np.uint64)),
        "flag": tf.Variable(np.array([True, False, True])),
        "c64": tf.Variable(np.array([1 + 2j], np.complex64)),
        "c128": tf.Variable(np.array([3 - 4j, 0.5j], np.complex128)),
        "empty": tf.Variable(np.zeros((0, 3), np.float32)),
        "s": tf.Variable("hello, bundle"),
        "sv": tf.Variable(tf.constant([b"", b"a", b"\xff\x00bytes"])),
        "s0": tf.Variable(tf.constant([], tf.string)),
    }


def expected(prefix):
    reader = tf.train.load_checkpoint(prefix)
    dtypes = reader.get_variable_to_dtype_map()
    shapes = reader.get_variable_to_shape_map()
    out = {}
    for key in sorted(dtypes):
        item = {"dtype": dtypes[key].as_datatype_enum, "shape": list(shapes[key])}
        if dtypes[key] == tf.string:
            # The Python reader refuses non-scalar strings; RestoreV2 reads any.
            (value,) = tf.raw_ops.RestoreV2(prefix=prefix, tensor_names=[key], shape_and_slices=[""], dtypes=[tf.string])
            item["strings"] = [bytes(v).hex() for v in np.asarray(value.numpy(), dtype=object).reshape(-1)]
        else:
            value = reader.get_tensor(key)
            arr = np.asarray(value)
            if dtypes[key] == tf.bfloat16:
                raw = tf.bitcast(tf.constant(value, tf.bfloat16), tf.uint16).numpy().astype("<u2").tobytes()
            else:
                raw = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
            item["hex"] = raw.hex()
        out[key] = item
    return out


def write_json(path, data):
    with open(path, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")


def main():
    tf.random.set_seed(0)
    # SavedModel with every dtype.
    path = os.path.join(OUT, "bundle_dtypes")
    shutil.rmtree(path, ignore_errors=True)
    m = tf.Module()
    for k, v in variables().items():
        setattr(m, k, v)
    # No functions: the fixture is for the checkpoint, and saved_model.pb stays small.
    tf.saved_model.save(m, path)
    prefix = os.path.join(path, "variables", "variables")
    write_json(os.path.join(path, "expected.json"), expected(prefix))

    # A plain checkpoint over several shards.
    path = os.path.join(OUT, "bundle_shards")
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    # String variables are left out: TF's restore of them fails in a checkpoint written this way.
    ck = tf.train.Checkpoint(**{k: v for k, v in variables().items() if v.dtype != tf.string})
    policy = tf.train.experimental.MaxShardSizePolicy(max_shard_size=64)
    opts = tf.train.CheckpointOptions(experimental_sharding_callback=policy)
    prefix = ck.write(os.path.join(path, "ckpt"), options=opts)
    write_json(os.path.join(path, "expected.json"), expected(prefix))

    for root, _, files in os.walk(OUT):
        for f in sorted(files):
            p = os.path.join(root, f)
            print(f"{os.path.relpath(p, HERE)}\t{os.path.getsize(p)}")


if __name__ == "__main__":
    main()
