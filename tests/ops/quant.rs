//! DEQUANTIZE (folded in front of the op that reads it): agreement cases (src/ops/quant.rs).

use super::*;

fn fake_quant(min: f32, max: f32, num_bits: i32) -> Opt {
    Opt::FakeQuantOptions(Box::new(fb::FakeQuantOptionsT { min, max, num_bits, narrow_range: false }))
}

pub fn cases() -> Vec<Case> {
    use BuiltinOperator as B;
    vec![
        case("fake_quant_8bit", B::FAKE_QUANT, fake_quant(-2.0, 2.5, 8), vec![x(&S)], &S),
        case("fake_quant_4bit_nudged", B::FAKE_QUANT, fake_quant(-0.7, 3.1, 4), vec![x(&S)], &S),
        case(
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
        ),
    ]
}
