use crate::{compile, parse, FieldType, Scalar};

const SMALL: &str = r#"
// comment
namespace demo;
attribute "priority";
file_identifier "DEMO";
file_extension "demo";

enum Color : byte { RED = -1, GREEN, BLUE = 5, }
union Shape { Circle, Square }

table Circle { radius: float = 1.5; }
table Square { side: int; }

/* block
   comment */
table Root {
  name: string;
  old: int (deprecated);
  color: Color = BLUE;
  shape: Shape;
  data: [ubyte] (force_align: 16);
  tags: [string];
  kids: [Circle];
  flag: bool = true;
}
root_type Root;
"#;

#[test]
fn parses_ids_defaults_and_unions() {
    let s = parse(SMALL).unwrap();
    assert_eq!(s.namespace, "demo");
    assert_eq!(s.file_identifier.as_deref(), Some("DEMO"));
    let color = &s.enums[0];
    let vals: Vec<(&str, i64)> = color.values.iter().map(|v| (v.name.as_str(), v.value)).collect();
    assert_eq!(vals, [("RED", -1), ("GREEN", 0), ("BLUE", 5)]);
    let root = s.tables.iter().find(|t| t.name == "Root").unwrap();
    let ids: Vec<(&str, u16)> = root.fields.iter().map(|f| (f.name.as_str(), f.id)).collect();
    // `shape` takes two slots: its hidden tag (id 3) and its value (id 4).
    assert_eq!(
        ids,
        [("name", 0), ("old", 1), ("color", 2), ("shape", 4), ("data", 5), ("tags", 6), ("kids", 7), ("flag", 8)]
    );
    assert!(root.fields[1].deprecated);
    assert_eq!(root.fields[2].default.as_deref(), Some("5"));
    assert_eq!(root.fields[4].force_align, Some(16));
    assert_eq!(root.fields[4].ty, FieldType::Vector(Box::new(FieldType::Scalar(Scalar::U8))));
    let circle = s.tables.iter().find(|t| t.name == "Circle").unwrap();
    assert_eq!(circle.fields[0].default.as_deref(), Some("1.5"));
}

#[test]
fn emits_views_owned_types_and_verifiers() {
    let code = compile(SMALL).unwrap();
    for needle in [
        "pub struct Color(pub i8);",
        "pub const RED: Self = Self(-1);",
        "pub struct Shape(pub u8);",
        "pub const Square: Self = Self(2);",
        "pub enum ShapeT {",
        "pub const VT_SHAPE_TYPE: flatbuffers::VOffsetT = 10;",
        "pub const VT_SHAPE: flatbuffers::VOffsetT = 12;",
        "pub fn color(&self) -> Color",
        "pub struct RootT {",
        "create_aligned_bytes(fbb, v)",
        "pub const FILE_IDENTIFIER: &str = \"DEMO\";",
        "radius: 1.5f32",
        "flag: true",
        "if tag == Shape::NONE || !tag.is_known() {",
    ] {
        assert!(code.contains(needle), "missing {needle:?}");
    }
    // Deprecated fields keep their slot but get no accessor or owned field.
    assert!(code.contains("pub const VT_OLD"));
    assert!(!code.contains("pub fn old("));
}

#[test]
fn rejects_what_it_does_not_support() {
    for (src, needle) in [
        ("struct Vec3 { x: float; }", "'struct' is not supported"),
        ("include \"other.fbs\";", "'include' is not supported"),
        ("table T { a: Missing; }", "unknown type 'Missing'"),
        ("table T { a: int (weird); }", "undeclared attribute 'weird'"),
        ("enum E : float { A }", "must be an integer"),
        ("table T { a: byte = 300; }", "bad default '300'"),
        ("union U { T } table T { x: int; } table R { u: [U]; }", "vectors of unions"),
        ("table T { a: int", "unexpected end"),
        ("table T { a: int (key); }", "'key' is not supported"),
    ] {
        let err = parse(src).unwrap_err().to_string();
        assert!(err.contains(needle), "{src}: got {err}");
    }
}

#[test]
fn errors_carry_line_numbers() {
    let err = parse("namespace a;\n\ntable T {\n  a: Nope;\n}").unwrap_err();
    assert_eq!(err.line, 4);
}
