//! DEQUANTIZE (folded in front of the op that reads it): agreement cases (src/ops/quant.rs).

use super::*;

pub fn cases() -> Vec<Case> {
    use BuiltinOperator as B;
    vec![case(
        "dequantize_int8_per_channel",
        B::ADD,
        Opt::AddOptions(Box::default()),
        vec![
            x(&S),
            Some((
                vec![6, 1, 4],
                Data::I8(
                    (0..24).map(|i| (i * 11 % 255 - 127) as i8).collect(),
                    vec![0.01, 0.02, 0.03, 0.04, 0.05, 0.06],
                    0,
                ),
            )),
        ],
        &S,
    )]
}
