//! Text a plugin hands the host, bounded before the host keeps it.
//!
//! Strings an export returns arrive whole (the component model lifts them
//! out of the guest's memory, within the task's copy limit), but nothing past the
//! call keeps more than these limits: a message is cut at a character
//! boundary and its spare capacity freed, and fields that must be short
//! (describe() fields, content types) are refused by length, without being
//! echoed back (escaping control characters would only make them longer).

/// The longest error message of a plugin's that is kept.
pub const MAX_MESSAGE_BYTES: usize = 4096;
/// The longest content type a plugin may give its output.
pub const MAX_CONTENT_TYPE_BYTES: usize = 256;

/// `s` cut to at most `limit` bytes (on a character boundary, with a note
/// of the full length), its spare capacity freed.
pub(crate) fn truncated(mut s: String, limit: usize) -> String {
    if s.len() <= limit {
        return s;
    }
    let full = s.len();
    let mut cut = limit;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    s.push_str(&format!("… ({full} bytes in all)"));
    s.shrink_to_fit();
    s
}

/// The longest prefix of `s` of at most `limit` bytes that ends on a
/// character boundary.
pub(crate) fn prefix(s: &str, limit: usize) -> &str {
    let mut cut = s.len().min(limit);
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    &s[..cut]
}

/// Refuses `value` (the field `what`) if longer than `limit` bytes.
pub(crate) fn check_len(what: &str, value: &str, limit: usize) -> Result<(), String> {
    if value.len() > limit {
        return Err(format!(
            "{what} is {} bytes, over the {limit}-byte limit",
            value.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_characters_whole_and_frees_the_rest() {
        let s = "é".repeat(10_000);
        let t = truncated(s, 4097);
        assert!(t.starts_with(&"é".repeat(2048)));
        assert!(
            t.ends_with("… (20000 bytes in all)"),
            "{}",
            &t[t.len() - 40..]
        );
        assert!(t.capacity() < 4200, "{}", t.capacity());
        assert_eq!(truncated("short".into(), 10), "short");
        assert!(
            check_len("its name", &"x".repeat(200), 128)
                .unwrap_err()
                .contains("200 bytes, over the 128-byte limit")
        );
    }
}
