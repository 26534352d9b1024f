//! The two input/output forms of the tensor plugin.
//!
//! JSON (`application/json`):
//!
//! ```json
//! {"inputs": {"x": {"dtype": "f32", "shape": [1, 4], "data": [0.5, 1, 2, 3]}}}
//! ```
//!
//! and the answer `{"outputs": {"y": {"dtype": ..., "shape": ..., "data": [...]}}}`.
//! `dtype` is one of `f16 f32 f64 bf16 u8 i32 i64`; `data` is row-major
//! numbers (f16/bf16 are converted to and from f32; non-finite floats are
//! the strings `"nan"`, `"inf"`, `"-inf"`).
//!
//! Compact binary (`application/x-clusterai-tensors`), little-endian:
//!
//! ```text
//! "CATN" u8 version=1  u32 count
//! count x { u16 name_len, name (UTF-8), u8 dtype, u8 rank, rank x u32 dim,
//!           u64 byte_len, bytes }
//! dtype: 0 f16, 1 f32, 2 f64, 3 bf16, 4 u8, 5 i32, 6 i64
//! ```

use std::borrow::Cow;

use serde_json::{Map, Value};

/// The binary form's content type.
pub const BINARY_TYPE: &str = "application/x-clusterai-tensors";
/// The JSON form's content type.
pub const JSON_TYPE: &str = "application/json";

const MAGIC: &[u8; 4] = b"CATN";
const VERSION: u8 = 1;
/// At most this many tensors per message.
const MAX_TENSORS: u32 = 1024;
/// At most this rank.
const MAX_RANK: u8 = 16;

/// Element types, as in wasi-nn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    /// IEEE half.
    F16,
    /// IEEE single.
    F32,
    /// IEEE double.
    F64,
    /// bfloat16.
    Bf16,
    /// u8.
    U8,
    /// i32.
    I32,
    /// i64.
    I64,
}

const ALL: [DType; 7] = [
    DType::F16,
    DType::F32,
    DType::F64,
    DType::Bf16,
    DType::U8,
    DType::I32,
    DType::I64,
];

impl DType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Self::U8 => 1,
            Self::F16 | Self::Bf16 => 2,
            Self::F32 | Self::I32 => 4,
            Self::F64 | Self::I64 => 8,
        }
    }

    /// The short name used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::F16 => "f16",
            Self::F32 => "f32",
            Self::F64 => "f64",
            Self::Bf16 => "bf16",
            Self::U8 => "u8",
            Self::I32 => "i32",
            Self::I64 => "i64",
        }
    }

    fn code(self) -> u8 {
        ALL.iter().position(|d| *d == self).unwrap_or(0) as u8
    }

    fn from_name(s: &str) -> Option<Self> {
        ALL.into_iter().find(|d| d.name() == s)
    }
}

/// A named tensor: little-endian, row-major bytes, borrowed from the input
/// where the binary form is decoded (no copy in the guest) or owned.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor<'a> {
    /// The input or output name.
    pub name: String,
    /// The element type.
    pub dtype: DType,
    /// The dimensions.
    pub shape: Vec<u32>,
    /// The bytes.
    pub data: Cow<'a, [u8]>,
}

fn byte_len(shape: &[u32], dtype: DType) -> Option<usize> {
    shape
        .iter()
        .try_fold(dtype.size(), |acc, &d| acc.checked_mul(d as usize))
}

/// Parses the JSON form (`{"inputs": {...}}`).
pub fn decode_json(bytes: &[u8]) -> Result<Vec<NamedTensor<'static>>, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("input is not JSON: {e}"))?;
    let inputs = v
        .get("inputs")
        .and_then(Value::as_object)
        .ok_or("expected an object {\"inputs\": {name: tensor, ...}}")?;
    let mut out = Vec::with_capacity(inputs.len());
    for (name, t) in inputs {
        let dtype_name = t
            .get("dtype")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("tensor {name:?}: missing \"dtype\""))?;
        let dtype = DType::from_name(dtype_name).ok_or_else(|| {
            format!("tensor {name:?}: unknown dtype {dtype_name:?} (f16 f32 f64 bf16 u8 i32 i64)")
        })?;
        let shape = t
            .get("shape")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("tensor {name:?}: missing \"shape\""))?
            .iter()
            .map(|d| d.as_u64().and_then(|d| u32::try_from(d).ok()))
            .collect::<Option<Vec<u32>>>()
            .ok_or_else(|| {
                format!("tensor {name:?}: shape must be non-negative integers < 2^32")
            })?;
        let values = t
            .get("data")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("tensor {name:?}: missing \"data\" array"))?;
        let n = byte_len(&shape, dtype)
            .ok_or_else(|| format!("tensor {name:?}: shape {shape:?} is too large"))?
            / dtype.size();
        if values.len() != n {
            return Err(format!(
                "tensor {name:?}: shape {shape:?} has {n} elements, \"data\" has {}",
                values.len()
            ));
        }
        let mut data = Vec::with_capacity(n * dtype.size());
        for (i, v) in values.iter().enumerate() {
            encode_value(v, dtype, &mut data).ok_or_else(|| {
                format!("tensor {name:?}: element {i} ({v}) is not a {dtype_name}")
            })?;
        }
        out.push(NamedTensor {
            name: name.clone(),
            dtype,
            shape,
            data: data.into(),
        });
    }
    Ok(out)
}

fn float_of(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "nan" => Some(f64::NAN),
            "inf" => Some(f64::INFINITY),
            "-inf" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

fn encode_value(v: &Value, dtype: DType, out: &mut Vec<u8>) -> Option<()> {
    match dtype {
        DType::F32 => out.extend_from_slice(&(float_of(v)? as f32).to_le_bytes()),
        DType::F64 => out.extend_from_slice(&float_of(v)?.to_le_bytes()),
        DType::F16 => out.extend_from_slice(&f32_to_f16(float_of(v)? as f32).to_le_bytes()),
        DType::Bf16 => out.extend_from_slice(&f32_to_bf16(float_of(v)? as f32).to_le_bytes()),
        DType::U8 => out.push(u8::try_from(v.as_u64()?).ok()?),
        DType::I32 => out.extend_from_slice(&i32::try_from(v.as_i64()?).ok()?.to_le_bytes()),
        DType::I64 => out.extend_from_slice(&v.as_i64()?.to_le_bytes()),
    }
    Some(())
}

fn float_value(x: f64) -> Value {
    if x.is_nan() {
        Value::from("nan")
    } else if x.is_infinite() {
        Value::from(if x > 0.0 { "inf" } else { "-inf" })
    } else {
        serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
    }
}

fn decode_values(t: &NamedTensor<'_>) -> Vec<Value> {
    let c = t.data.chunks_exact(t.dtype.size());
    match t.dtype {
        DType::F32 => c
            .map(|b| float_value(f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))))
            .collect(),
        DType::F64 => c
            .map(|b| {
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                float_value(f64::from_le_bytes(a))
            })
            .collect(),
        DType::F16 => c
            .map(|b| float_value(f64::from(f16_to_f32(u16::from_le_bytes([b[0], b[1]])))))
            .collect(),
        DType::Bf16 => c
            .map(|b| float_value(f64::from(bf16_to_f32(u16::from_le_bytes([b[0], b[1]])))))
            .collect(),
        DType::U8 => c.map(|b| Value::from(b[0])).collect(),
        DType::I32 => c
            .map(|b| Value::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            .collect(),
        DType::I64 => c
            .map(|b| {
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Value::from(i64::from_le_bytes(a))
            })
            .collect(),
    }
}

/// Writes the JSON form (`{"outputs": {...}}`), tensors in the given order.
pub fn encode_json(tensors: &[NamedTensor<'_>]) -> Vec<u8> {
    let mut outputs = Map::new();
    for t in tensors {
        let mut o = Map::new();
        o.insert("dtype".into(), Value::from(t.dtype.name()));
        o.insert("shape".into(), Value::from(t.shape.clone()));
        o.insert("data".into(), Value::Array(decode_values(t)));
        outputs.insert(t.name.clone(), Value::Object(o));
    }
    let mut root = Map::new();
    root.insert("outputs".into(), Value::Object(outputs));
    let mut s = Value::Object(root).to_string().into_bytes();
    s.push(b'\n');
    s
}

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        if self.b.len() < n {
            return Err(format!("binary tensors: truncated in {what}"));
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn u8(&mut self, what: &str) -> Result<u8, String> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &str) -> Result<u16, String> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self, what: &str) -> Result<u32, String> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self, what: &str) -> Result<u64, String> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
}

/// Parses the binary form.
pub fn decode_binary(bytes: &[u8]) -> Result<Vec<NamedTensor<'_>>, String> {
    let mut r = Reader { b: bytes };
    if r.take(4, "magic")? != MAGIC {
        return Err("binary tensors: does not start with \"CATN\"".into());
    }
    let version = r.u8("version")?;
    if version != VERSION {
        return Err(format!(
            "binary tensors: version {version}, this plugin reads {VERSION}"
        ));
    }
    let count = r.u32("count")?;
    if count > MAX_TENSORS {
        return Err(format!(
            "binary tensors: {count} tensors, at most {MAX_TENSORS}"
        ));
    }
    let mut out = Vec::new();
    for i in 0..count {
        let len = r.u16("name length")? as usize;
        let name = std::str::from_utf8(r.take(len, "name")?)
            .map_err(|_| format!("binary tensors: name of tensor {i} is not UTF-8"))?
            .to_string();
        let code = r.u8("dtype")?;
        let dtype = *ALL
            .get(code as usize)
            .ok_or_else(|| format!("tensor {name:?}: unknown dtype code {code}"))?;
        let rank = r.u8("rank")?;
        if rank > MAX_RANK {
            return Err(format!("tensor {name:?}: rank {rank}, at most {MAX_RANK}"));
        }
        let shape = (0..rank)
            .map(|_| r.u32("dimension"))
            .collect::<Result<Vec<_>, _>>()?;
        let declared = r.u64("byte length")?;
        let want = byte_len(&shape, dtype)
            .ok_or_else(|| format!("tensor {name:?}: shape {shape:?} is too large"))?;
        if declared != want as u64 {
            return Err(format!(
                "tensor {name:?}: shape {shape:?} of {} needs {want} bytes, header says {declared}",
                dtype.name()
            ));
        }
        let data = Cow::Borrowed(r.take(want, "tensor data")?);
        out.push(NamedTensor {
            name,
            dtype,
            shape,
            data,
        });
    }
    if !r.b.is_empty() {
        return Err(format!(
            "binary tensors: {} bytes after the last tensor",
            r.b.len()
        ));
    }
    Ok(out)
}

/// Writes the binary form.
pub fn encode_binary(tensors: &[NamedTensor<'_>]) -> Vec<u8> {
    let size = 9 + tensors
        .iter()
        .map(|t| 2 + t.name.len() + 2 + 4 * t.shape.len() + 8 + t.data.len())
        .sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&(tensors.len() as u32).to_le_bytes());
    for t in tensors {
        out.extend_from_slice(&(t.name.len() as u16).to_le_bytes());
        out.extend_from_slice(t.name.as_bytes());
        out.push(t.dtype.code());
        out.push(t.shape.len() as u8);
        for d in &t.shape {
            out.extend_from_slice(&d.to_le_bytes());
        }
        out.extend_from_slice(&(t.data.len() as u64).to_le_bytes());
        out.extend_from_slice(&t.data);
    }
    out
}

/// f32 -> IEEE half, round to nearest even.
pub fn f32_to_f16(x: f32) -> u16 {
    let b = x.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let exp = ((b >> 23) & 0xff) as i32;
    let man = b & 0x7f_ffff;
    if exp == 0xff {
        return sign | 0x7c00 | if man != 0 { 0x200 } else { 0 };
    }
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        if e < -10 {
            return sign;
        }
        let m = man | 0x80_0000;
        let shift = (14 - e) as u32;
        let half = 1u32 << (shift - 1);
        let rest = m & ((1u32 << shift) - 1);
        let mut h = (m >> shift) as u16;
        if rest > half || (rest == half && (h & 1) == 1) {
            h += 1;
        }
        return sign | h;
    }
    let mut h = ((e as u32) << 10 | (man >> 13)) as u16;
    let rest = man & 0x1fff;
    if rest > 0x1000 || (rest == 0x1000 && (h & 1) == 1) {
        h += 1;
    }
    sign | h
}

/// IEEE half -> f32 (exact).
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h & 0x8000) << 16;
    let exp = u32::from((h >> 10) & 0x1f);
    let man = u32::from(h & 0x3ff);
    let bits = match (exp, man) {
        (0, 0) => sign,
        (0, m) => {
            // Subnormal: normalise.
            let mut e = 127 - 15 + 1;
            let mut m = m;
            while m & 0x400 == 0 {
                m <<= 1;
                e -= 1;
            }
            sign | ((e as u32) << 23) | ((m & 0x3ff) << 13)
        }
        (0x1f, m) => sign | 0x7f80_0000 | (m << 13),
        (e, m) => sign | ((e + 127 - 15) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

/// f32 -> bfloat16, round to nearest even.
pub fn f32_to_bf16(x: f32) -> u16 {
    let b = x.to_bits();
    if x.is_nan() {
        return ((b >> 16) as u16) | 0x40;
    }
    let rounding = 0x7fff + ((b >> 16) & 1);
    (b.wrapping_add(rounding) >> 16) as u16
}

/// bfloat16 -> f32 (exact).
pub fn bf16_to_f32(h: u16) -> f32 {
    f32::from_bits(u32::from(h) << 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<NamedTensor<'static>> {
        vec![
            NamedTensor {
                name: "x".into(),
                dtype: DType::F32,
                shape: vec![1, 2],
                data: [1.5f32, -2.0]
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect::<Vec<u8>>()
                    .into(),
            },
            NamedTensor {
                name: "ids".into(),
                dtype: DType::I64,
                shape: vec![3],
                data: [i64::MAX, -1, 0]
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect::<Vec<u8>>()
                    .into(),
            },
        ]
    }

    #[test]
    fn binary_round_trips_and_rejects_lies() {
        let t = sample();
        let b = encode_binary(&t);
        assert_eq!(decode_binary(&b).unwrap(), t);
        assert!(
            decode_binary(&b[..b.len() - 1])
                .unwrap_err()
                .contains("truncated")
        );
        let mut extra = b.clone();
        extra.push(0);
        assert!(
            decode_binary(&extra)
                .unwrap_err()
                .contains("after the last tensor")
        );
        let mut bad = b.clone();
        bad[0] = b'X';
        assert!(decode_binary(&bad).unwrap_err().contains("CATN"));
        // Claim a huge shape with a small byte length.
        let lie = encode_binary(&[NamedTensor {
            name: "y".into(),
            dtype: DType::F32,
            shape: vec![65536, 65536],
            data: Cow::Borrowed(&[]),
        }]);
        assert!(
            decode_binary(&lie)
                .unwrap_err()
                .contains("needs 17179869184 bytes")
        );
        let overflow = encode_binary(&[NamedTensor {
            name: "z".into(),
            dtype: DType::F32,
            shape: vec![u32::MAX, u32::MAX, u32::MAX],
            data: Cow::Borrowed(&[]),
        }]);
        assert!(decode_binary(&overflow).unwrap_err().contains("too large"));
    }

    #[test]
    fn json_round_trips_through_outputs_form() {
        let t = sample();
        let out = String::from_utf8(encode_json(&t)).unwrap();
        assert!(
            out.contains("\"ids\":{\"data\":[9223372036854775807,-1,0]"),
            "{out}"
        );
        // Feed the outputs back as inputs.
        let again = decode_json(out.replace("outputs", "inputs").as_bytes()).unwrap();
        let mut sorted = t.clone();
        sorted.sort_by(|a, b| a.name.cmp(&b.name));
        let mut again_sorted = again;
        again_sorted.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(again_sorted, sorted);
    }

    #[test]
    fn json_errors_name_the_tensor() {
        let e = decode_json(br#"{"inputs":{"x":{"dtype":"f8","shape":[1],"data":[1]}}}"#);
        assert!(e.unwrap_err().contains("unknown dtype \"f8\""));
        let e = decode_json(br#"{"inputs":{"x":{"dtype":"f32","shape":[2],"data":[1]}}}"#);
        assert!(e.unwrap_err().contains("has 2 elements, \"data\" has 1"));
        let e = decode_json(br#"{"inputs":{"x":{"dtype":"u8","shape":[1],"data":[300]}}}"#);
        assert!(e.unwrap_err().contains("is not a u8"));
        let e = decode_json(b"[1]");
        assert!(e.unwrap_err().contains("\"inputs\""));
    }

    #[test]
    fn half_conversions_match_known_values() {
        for (f, h) in [
            (0.0f32, 0x0000u16),
            (1.0, 0x3c00),
            (-2.0, 0xc000),
            (65504.0, 0x7bff),
            (0.000_060_975_55, 0x03ff),
            (f32::INFINITY, 0x7c00),
        ] {
            assert_eq!(f32_to_f16(f), h, "{f}");
            assert_eq!(f16_to_f32(h), f, "{h:#x}");
        }
        assert!(f16_to_f32(f32_to_f16(f32::NAN)).is_nan());
        assert_eq!(f32_to_f16(1e6), 0x7c00);
        assert_eq!(f32_to_bf16(1.0), 0x3f80);
        assert_eq!(bf16_to_f32(0xc040), -3.0);
        assert!(bf16_to_f32(f32_to_bf16(f32::NAN)).is_nan());
    }
}
