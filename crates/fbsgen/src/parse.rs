//! Parser for the FlatBuffers schema subset the TFLite schema uses.

use crate::{Enum, EnumVal, Field, FieldType, Scalar, Schema, Table, Union};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(String),
    Punct(char),
}

#[derive(Debug)]
pub struct ParseError {
    pub line: usize,
    pub msg: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "schema line {}: {}", self.line, self.msg)
    }
}

impl std::error::Error for ParseError {}

fn lex(src: &str) -> Result<Vec<(Tok, usize)>, ParseError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            i += 2;
            while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                if chars[i] == '\n' {
                    line += 1;
                }
                i += 1;
            }
            i += 2;
        } else if c == '"' {
            let start = i + 1;
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += 1;
            }
            if i >= chars.len() {
                return Err(ParseError { line, msg: "unterminated string".into() });
            }
            out.push((Tok::Str(chars[start..i].iter().collect()), line));
            i += 1;
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == '.') {
                i += 1;
            }
            out.push((Tok::Ident(chars[start..i].iter().collect()), line));
        } else if c.is_ascii_digit() || ((c == '-' || c == '+') && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let start = i;
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.' || chars[i] == '_') {
                i += 1;
            }
            out.push((Tok::Num(chars[start..i].iter().collect()), line));
        } else if "{}[]();:=,".contains(c) {
            out.push((Tok::Punct(c), line));
            i += 1;
        } else {
            return Err(ParseError { line, msg: format!("unexpected character {c:?}") });
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
}

/// A table field before type names are resolved.
struct RawField {
    name: String,
    ty: String,
    vector: bool,
    default: Option<String>,
    deprecated: bool,
    force_align: Option<u32>,
    line: usize,
}

impl Parser {
    fn line(&self) -> usize {
        self.toks.get(self.pos).or(self.toks.last()).map_or(0, |t| t.1)
    }
    fn err<T>(&self, msg: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError { line: self.line(), msg: msg.into() })
    }
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.0)
    }
    fn next(&mut self) -> Result<Tok, ParseError> {
        match self.toks.get(self.pos) {
            Some(t) => {
                self.pos += 1;
                Ok(t.0.clone())
            }
            None => self.err("unexpected end of schema"),
        }
    }
    fn punct(&mut self, c: char) -> Result<(), ParseError> {
        match self.next()? {
            Tok::Punct(p) if p == c => Ok(()),
            t => self.err(format!("expected '{c}', found {t:?}")),
        }
    }
    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(&Tok::Punct(c)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn ident(&mut self) -> Result<String, ParseError> {
        match self.next()? {
            Tok::Ident(s) => Ok(s),
            t => self.err(format!("expected a name, found {t:?}")),
        }
    }
    fn string(&mut self) -> Result<String, ParseError> {
        match self.next()? {
            Tok::Str(s) => Ok(s),
            t => self.err(format!("expected a string, found {t:?}")),
        }
    }
    fn value(&mut self) -> Result<String, ParseError> {
        match self.next()? {
            Tok::Ident(s) | Tok::Num(s) | Tok::Str(s) => Ok(s),
            t => self.err(format!("expected a value, found {t:?}")),
        }
    }

    /// `( name [: value], ... )`, returning (name, value) pairs.
    fn attributes(&mut self) -> Result<Vec<(String, Option<String>)>, ParseError> {
        let mut attrs = Vec::new();
        if !self.eat('(') {
            return Ok(attrs);
        }
        loop {
            let name = self.ident()?;
            let value = if self.eat(':') { Some(self.value()?) } else { None };
            attrs.push((name, value));
            if self.eat(')') {
                return Ok(attrs);
            }
            self.punct(',')?;
        }
    }
}

pub fn parse(src: &str) -> Result<Schema, ParseError> {
    let mut p = Parser { toks: lex(src)?, pos: 0 };
    let mut schema = Schema::default();
    let mut raw_tables: Vec<(String, Vec<RawField>, usize)> = Vec::new();
    let mut attributes = vec!["deprecated".to_string(), "force_align".to_string()];
    while p.peek().is_some() {
        let kw = p.ident()?;
        match kw.as_str() {
            "namespace" => {
                schema.namespace = p.ident()?;
                p.punct(';')?;
            }
            "attribute" => {
                attributes.push(p.string()?);
                p.punct(';')?;
            }
            "file_identifier" => {
                schema.file_identifier = Some(p.string()?);
                p.punct(';')?;
            }
            "file_extension" => {
                schema.file_extension = Some(p.string()?);
                p.punct(';')?;
            }
            "root_type" => {
                schema.root_type = Some(p.ident()?);
                p.punct(';')?;
            }
            "enum" => schema.enums.push(parse_enum(&mut p)?),
            "union" => schema.unions.push(parse_union(&mut p)?),
            "table" => {
                let line = p.line();
                let name = p.ident()?;
                let attrs = p.attributes()?;
                check_attrs(&p, &attrs, &attributes)?;
                p.punct('{')?;
                let mut fields = Vec::new();
                while !p.eat('}') {
                    let line = p.line();
                    let fname = p.ident()?;
                    p.punct(':')?;
                    let vector = p.eat('[');
                    let ty = p.ident()?;
                    if vector {
                        p.punct(']')?;
                    }
                    let default = if p.eat('=') { Some(p.value()?) } else { None };
                    let attrs = p.attributes()?;
                    check_attrs(&p, &attrs, &attributes)?;
                    p.punct(';')?;
                    let deprecated = attrs.iter().any(|a| a.0 == "deprecated");
                    let force_align = attrs
                        .iter()
                        .find(|a| a.0 == "force_align")
                        .and_then(|a| a.1.as_ref())
                        .map(|v| v.parse::<u32>())
                        .transpose()
                        .map_err(|_| ParseError { line, msg: "bad force_align".into() })?;
                    for (a, _) in &attrs {
                        if matches!(a.as_str(), "key" | "required" | "id" | "nested_flatbuffer" | "flexbuffer") {
                            return Err(ParseError { line, msg: format!("attribute '{a}' is not supported") });
                        }
                    }
                    fields.push(RawField { name: fname, ty, vector, default, deprecated, force_align, line });
                }
                raw_tables.push((name, fields, line));
            }
            "struct" | "include" | "rpc_service" => return p.err(format!("'{kw}' is not supported by this compiler")),
            other => return p.err(format!("unexpected keyword '{other}'")),
        }
    }
    resolve_tables(&mut schema, raw_tables)?;
    Ok(schema)
}

fn check_attrs(p: &Parser, attrs: &[(String, Option<String>)], known: &[String]) -> Result<(), ParseError> {
    for (a, _) in attrs {
        if !known.contains(a) && !matches!(a.as_str(), "key" | "required" | "id" | "nested_flatbuffer" | "flexbuffer") {
            return p.err(format!("undeclared attribute '{a}'"));
        }
    }
    Ok(())
}

fn parse_enum(p: &mut Parser) -> Result<Enum, ParseError> {
    let name = p.ident()?;
    p.punct(':')?;
    let ty_name = p.ident()?;
    let repr = match Scalar::from_name(&ty_name) {
        Some(s) if s.is_integer() => s,
        _ => return p.err(format!("enum {name}: underlying type '{ty_name}' must be an integer")),
    };
    p.attributes()?;
    p.punct('{')?;
    let mut values = Vec::new();
    let mut next: i64 = 0;
    while !p.eat('}') {
        let vname = p.ident()?;
        let value = if p.eat('=') {
            let v = p.value()?;
            parse_int(&v).ok_or_else(|| ParseError { line: p.line(), msg: format!("bad enum value {v}") })?
        } else {
            next
        };
        if values.iter().any(|e: &EnumVal| e.name == vname) {
            return p.err(format!("enum {name}: duplicate value name {vname}"));
        }
        values.push(EnumVal { name: vname, value });
        next = value + 1;
        if !p.eat(',') {
            p.punct('}')?;
            break;
        }
    }
    Ok(Enum { name, repr, values })
}

fn parse_union(p: &mut Parser) -> Result<Union, ParseError> {
    let name = p.ident()?;
    p.attributes()?;
    p.punct('{')?;
    let mut members = Vec::new();
    while !p.eat('}') {
        let first = p.ident()?;
        if p.eat(':') {
            return p.err(format!("union {name}: aliased member {first} is not supported"));
        }
        if p.eat('=') {
            return p.err(format!("union {name}: explicit member values are not supported"));
        }
        members.push(first);
        if !p.eat(',') {
            p.punct('}')?;
            break;
        }
    }
    Ok(Union { name, members })
}

pub(crate) fn parse_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i64::from_str_radix(hex, 16).ok()?
    } else {
        body.parse::<i64>().ok()?
    };
    Some(if neg { -v } else { v })
}

fn resolve_tables(schema: &mut Schema, raw: Vec<(String, Vec<RawField>, usize)>) -> Result<(), ParseError> {
    let enums: HashMap<&str, &Enum> = schema.enums.iter().map(|e| (e.name.as_str(), e)).collect();
    let unions: HashMap<&str, &Union> = schema.unions.iter().map(|u| (u.name.as_str(), u)).collect();
    let table_names: Vec<&str> = raw.iter().map(|t| t.0.as_str()).collect();
    let mut tables = Vec::new();
    for (name, raw_fields, _line) in &raw {
        let mut fields = Vec::new();
        let mut id = 0u16;
        for f in raw_fields {
            let err = |msg: String| ParseError { line: f.line, msg: format!("{name}.{}: {msg}", f.name) };
            let base = if let Some(s) = Scalar::from_name(&f.ty) {
                FieldType::Scalar(s)
            } else if f.ty == "string" {
                FieldType::String
            } else if let Some(e) = enums.get(f.ty.as_str()) {
                FieldType::Enum(e.name.clone(), e.repr)
            } else if unions.contains_key(f.ty.as_str()) {
                FieldType::Union(f.ty.clone())
            } else if table_names.contains(&f.ty.as_str()) {
                FieldType::Table(f.ty.clone())
            } else {
                return Err(err(format!("unknown type '{}'", f.ty)));
            };
            if f.vector && matches!(base, FieldType::Union(_)) {
                return Err(err("vectors of unions are not supported".into()));
            }
            let default = match (&base, &f.default, f.vector) {
                (_, None, _) => None,
                (_, Some(_), true) => return Err(err("a vector cannot have a default".into())),
                (FieldType::Scalar(s), Some(d), false) => {
                    Some(s.normalize_default(d).ok_or_else(|| err(format!("bad default '{d}'")))?)
                }
                (FieldType::Enum(en, _), Some(d), false) => {
                    let e = enums[en.as_str()];
                    let v = match e.values.iter().find(|v| &v.name == d) {
                        Some(v) => v.value,
                        None => parse_int(d).ok_or_else(|| err(format!("bad enum default '{d}'")))?,
                    };
                    Some(v.to_string())
                }
                (_, Some(d), false) => return Err(err(format!("default '{d}' on a non-scalar field"))),
            };
            // A union takes two slots: the hidden `<name>_type` tag, then the value.
            let is_union = matches!(base, FieldType::Union(_));
            let ty = if f.vector { FieldType::Vector(Box::new(base)) } else { base };
            if is_union {
                id += 1;
            }
            fields.push(Field {
                name: f.name.clone(),
                ty,
                id,
                default,
                deprecated: f.deprecated,
                force_align: f.force_align,
            });
            id += 1;
        }
        tables.push(Table { name: name.clone(), fields });
    }
    for u in &schema.unions {
        for m in &u.members {
            if !table_names.contains(&m.as_str()) {
                return Err(ParseError { line: 0, msg: format!("union {}: member {m} is not a table", u.name) });
            }
        }
    }
    schema.tables = tables;
    Ok(())
}
