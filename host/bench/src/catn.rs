//! `CATN`, the `tensor` example plugin's compact binary input: named tensors
//! in, for the plugin-path benchmarks, the GPU check and the tests.
//!
//! Version 1: `b"CATN" 0x01`, a u32 count, then per tensor: a u16 name
//! length and the name, a dtype code ([`dtype_code`]), a u8 rank and that
//! many u32 dimensions, a u64 byte length and the little-endian bytes. All
//! integers little-endian.

/// One tensor to encode: name, dtype code, dimensions, bytes.
pub type CatnTensor<'a> = (&'a str, u8, &'a [u32], &'a [u8]);

/// Encodes `tensors` as a `CATN` v1 input.
pub fn encode(tensors: &[CatnTensor<'_>]) -> Vec<u8> {
    let mut b = b"CATN\x01".to_vec();
    b.extend((tensors.len() as u32).to_le_bytes());
    for (name, dtype, dims, data) in tensors {
        b.extend((name.len() as u16).to_le_bytes());
        b.extend(name.as_bytes());
        b.push(*dtype);
        b.push(dims.len() as u8);
        for d in *dims {
            b.extend(d.to_le_bytes());
        }
        b.extend((data.len() as u64).to_le_bytes());
        b.extend(*data);
    }
    b
}

/// The `CATN` code of an element type, by its wasi-nn short name (`f32`,
/// `i64`, ...); `None` for a name wasi-nn does not have.
pub fn dtype_code(dtype: &str) -> Option<u8> {
    Some(match dtype {
        "f16" => 0,
        "f32" => 1,
        "f64" => 2,
        "bf16" => 3,
        "u8" => 4,
        "i32" => 5,
        "i64" => 6,
        _ => return None,
    })
}

/// The element size of a wasi-nn short type name.
pub fn element_size(dtype: &str) -> Option<usize> {
    Some(match dtype {
        "u8" => 1,
        "f16" | "bf16" => 2,
        "f32" | "i32" => 4,
        "f64" | "i64" => 8,
        _ => return None,
    })
}

/// One decoded tensor: name, dtype code, dimensions, bytes.
pub type DecodedTensor = (String, u8, Vec<u32>, Vec<u8>);

/// Decodes a `CATN` v1 output of the tensor plugin; `None` when it is
/// malformed.
pub fn decode(bytes: &[u8]) -> Option<Vec<DecodedTensor>> {
    let mut r = Reader(bytes);
    if r.take(5)? != b"CATN\x01" {
        return None;
    }
    let count = u32::from_le_bytes(r.take(4)?.try_into().ok()?);
    let mut out = Vec::new();
    for _ in 0..count {
        let len = u16::from_le_bytes(r.take(2)?.try_into().ok()?) as usize;
        let name = String::from_utf8(r.take(len)?.to_vec()).ok()?;
        let dtype = r.take(1)?[0];
        let rank = r.take(1)?[0] as usize;
        let mut dims = Vec::with_capacity(rank);
        for _ in 0..rank {
            dims.push(u32::from_le_bytes(r.take(4)?.try_into().ok()?));
        }
        let n = usize::try_from(u64::from_le_bytes(r.take(8)?.try_into().ok()?)).ok()?;
        out.push((name, dtype, dims, r.take(n)?.to_vec()));
    }
    Some(out)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let data = 1.5f32.to_le_bytes();
        let enc = encode(&[("x", dtype_code("f32").unwrap(), &[1, 1], &data)]);
        let dec = decode(&enc).unwrap();
        assert_eq!(dec, vec![("x".into(), 1, vec![1, 1], data.to_vec())]);
        for cut in 0..enc.len() {
            assert!(decode(&enc[..cut]).is_none(), "cut at {cut}");
        }
        assert_eq!(dtype_code("f8"), None);
    }
}
