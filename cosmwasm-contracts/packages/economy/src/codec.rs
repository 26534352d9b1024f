//! A small binary encoding for the records the contracts read and write on
//! every task (big-endian integers, length-prefixed strings). JSON costs
//! several times more VM gas to parse and write than these bytes; records
//! that only queries read stay JSON.

use cosmwasm_std::{Addr, StdError, StdResult, Uint128};

/// Appends a string with a 2-byte length.
pub fn put_str(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(&(s.len() as u16).to_be_bytes());
    b.extend_from_slice(s.as_bytes());
}

/// Appends an address with a 2-byte length.
pub fn put_addr(b: &mut Vec<u8>, a: &Addr) {
    put_str(b, a.as_str());
}

/// Reads a binary record front to back; `what` names it in errors.
#[derive(Debug)]
pub struct Reader<'a> {
    rest: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader of `bytes`, a record named `what`.
    pub fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Reader { rest: bytes, what }
    }

    /// The error of a corrupt record.
    pub fn corrupt(&self) -> StdError {
        StdError::generic_err(format!("corrupt {} record", self.what))
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> StdResult<&'a [u8]> {
        if self.rest.len() < n {
            return Err(self.corrupt());
        }
        let (v, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(v)
    }

    fn array<const N: usize>(&mut self) -> StdResult<[u8; N]> {
        let b = self.take(N)?;
        b.try_into().map_err(|_| self.corrupt())
    }

    /// A byte.
    pub fn u8(&mut self) -> StdResult<u8> {
        Ok(self.take(1)?[0])
    }

    /// A big-endian u16.
    pub fn u16(&mut self) -> StdResult<u16> {
        self.array().map(u16::from_be_bytes)
    }

    /// A big-endian u32.
    pub fn u32(&mut self) -> StdResult<u32> {
        self.array().map(u32::from_be_bytes)
    }

    /// A big-endian u64.
    pub fn u64(&mut self) -> StdResult<u64> {
        self.array().map(u64::from_be_bytes)
    }

    /// A big-endian u128.
    pub fn uint128(&mut self) -> StdResult<Uint128> {
        self.array().map(|b| Uint128::new(u128::from_be_bytes(b)))
    }

    /// A string written by [`put_str`].
    pub fn str(&mut self) -> StdResult<&'a str> {
        let n = usize::from(self.u16()?);
        let b = self.take(n)?;
        std::str::from_utf8(b).map_err(|_| self.corrupt())
    }

    /// An address written by [`put_addr`] (validated when it was stored).
    pub fn addr(&mut self) -> StdResult<Addr> {
        self.str().map(Addr::unchecked)
    }

    /// Ends the record: an error if bytes are left.
    pub fn finish(self) -> StdResult<()> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(self.corrupt())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_short_or_long_records() {
        let mut b = vec![7];
        b.extend_from_slice(&300u16.to_be_bytes());
        b.extend_from_slice(&70_000u32.to_be_bytes());
        b.extend_from_slice(&u64::MAX.to_be_bytes());
        b.extend_from_slice(&u128::MAX.to_be_bytes());
        put_addr(&mut b, &Addr::unchecked("cosmwasm1abc"));
        put_str(&mut b, "ucai");
        let mut r = Reader::new(&b, "test");
        assert_eq!(r.u8().unwrap(), 7);
        assert_eq!(r.u16().unwrap(), 300);
        assert_eq!(r.u32().unwrap(), 70_000);
        assert_eq!(r.u64().unwrap(), u64::MAX);
        assert_eq!(r.uint128().unwrap(), Uint128::MAX);
        assert_eq!(r.addr().unwrap(), Addr::unchecked("cosmwasm1abc"));
        assert_eq!(r.str().unwrap(), "ucai");
        r.finish().unwrap();
        let mut r = Reader::new(&b[..3], "test");
        r.u8().unwrap();
        assert!(r.u32().is_err());
        let mut r = Reader::new(&b, "test");
        r.u8().unwrap();
        assert!(r.finish().is_err());
    }
}
