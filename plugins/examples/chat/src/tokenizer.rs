//! Byte-level BPE: the GPT-2 family's scheme that SmolLM2 (and Llama 3,
//! Qwen, StarCoder...) use, read from the compact blob the set-up makes of
//! the model's own tokenizer ([`Blob`]): every token's bytes, the merges as
//! id pairs sorted for binary search, the control tokens and the chat
//! template. Nothing is parsed or hashed at load time: a task's instance
//! starts generating at once.
//!
//! Encoding, in the order `tokenizers` applies it:
//! 1. special tokens (the `added_tokens` marked special) are cut out of the
//!    text and become their ids as they are;
//! 2. each digit is split off on its own (the `Digits` pre-tokenizer);
//! 3. the GPT-2 split: contractions, ` ?letters`, ` ?numbers`,
//!    ` ?other`, and whitespace runs (the last space of a run goes to the
//!    word after it), written out by hand: the pattern's look-ahead is what
//!    regex engines without backtracking lack;
//! 4. each piece's UTF-8 bytes map to printable characters (GPT-2's byte
//!    table) and merge by rank, lowest first, leftmost among equals.
//!
//! Decoding maps token strings back to bytes; [`Utf8Stream`] hands out text
//! only once its bytes form whole characters, for streaming.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use unicode_general_category::{GeneralCategory, get_general_category};

/// A tokenizer.
#[derive(Debug)]
pub struct Tokenizer {
    /// The bytes of every token, back to back; token `i` is
    /// `bytes[offsets[i]..offsets[i + 1]]` (a special token's text as it is).
    bytes: Vec<u8>,
    offsets: Vec<u32>,
    /// The id of each single byte; a byte without one is dropped, as
    /// `tokenizers` does for a BPE without an unknown token.
    byte_id: [Option<u32>; 256],
    /// (left, right, rank, merged), sorted by (left, right).
    merges: Vec<[u32; 4]>,
    /// Special tokens, longest first (so that a longer one wins at a position).
    specials: Vec<(String, u32)>,
    special_ids: Vec<u32>,
}

/// The tokenizer blob, as the set-up writes it (little-endian u32s):
/// `b"CLTK"`, version 1, vocabulary size, BOS, EOS, context length; the
/// control tokens (count, ids); token byte offsets (vocabulary size + 1),
/// byte count, the bytes (padded to 4); merges (count, then left, right,
/// rank, merged each, sorted by left and right); the chat template (length,
/// UTF-8).
#[derive(Debug)]
pub struct Blob {
    /// The tokenizer.
    pub tokenizer: Tokenizer,
    /// The beginning-of-text and end-of-text ids.
    pub bos: u32,
    /// The end-of-text id.
    pub eos: u32,
    /// Most tokens the model serves.
    pub context: usize,
    /// The chat template (Jinja).
    pub chat_template: String,
}

/// Reads u32s off the blob, naming what is missing.
struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.data.len()).ok_or_else(|| {
            format!(
                "the tokenizer blob is truncated: {what} needs {n} bytes at offset {}, it has {}",
                self.at,
                self.data.len()
            )
        })?;
        let out = &self.data[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u32(&mut self, what: &str) -> Result<u32, String> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u32s(&mut self, n: u32, what: &str) -> Result<Vec<u32>, String> {
        let n = n as usize;
        let raw = self.take(n.checked_mul(4).ok_or("a count overflows")?, what)?;
        Ok(raw
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
}

/// The most ids a vocabulary may have.
const MAX_VOCAB: u32 = 1 << 20;

impl Blob {
    /// Reads a tokenizer blob, checking every count, offset and id.
    pub fn parse(data: &[u8]) -> Result<Self, String> {
        let mut r = Reader { data, at: 0 };
        if r.take(4, "the magic").ok() != Some(b"CLTK".as_slice()) {
            return Err("not a tokenizer blob (no CLTK magic)".into());
        }
        let version = r.u32("the version")?;
        if version != 1 {
            return Err(format!(
                "tokenizer blob version {version}; this plugin reads 1"
            ));
        }
        let size = r.u32("the vocabulary size")?;
        if size == 0 || size > MAX_VOCAB {
            return Err(format!("the tokenizer's vocabulary has {size} entries"));
        }
        let in_vocab = |id: u32, what: &str| {
            if id < size {
                Ok(id)
            } else {
                Err(format!("{what} {id} is outside the vocabulary of {size}"))
            }
        };
        let bos = in_vocab(r.u32("BOS")?, "BOS id")?;
        let eos = in_vocab(r.u32("EOS")?, "EOS id")?;
        let context = r.u32("the context length")? as usize;
        let n_special = r.u32("the control token count")?;
        if n_special > size {
            return Err(format!(
                "{n_special} control tokens in a vocabulary of {size}"
            ));
        }
        let special_ids = r.u32s(n_special, "the control tokens")?;
        for &id in &special_ids {
            in_vocab(id, "control token")?;
        }
        let offsets = r.u32s(size + 1, "the token offsets")?;
        let len = r.u32("the token bytes' length")?;
        let bytes = r.take(len as usize, "the token bytes")?.to_vec();
        r.take((4 - len as usize % 4) % 4, "padding")?;
        if offsets[0] != 0
            || offsets.windows(2).any(|w| w[0] > w[1])
            || offsets[size as usize] != len
        {
            return Err("the tokenizer's token offsets are not in order".into());
        }
        let n_merges = r.u32("the merge count")?;
        let flat = r.u32s(
            n_merges.checked_mul(4).ok_or("the merge count overflows")?,
            "the merges",
        )?;
        let merges: Vec<[u32; 4]> = flat
            .chunks_exact(4)
            .map(|c| [c[0], c[1], c[2], c[3]])
            .collect();
        for m in &merges {
            for &id in [m[0], m[1], m[3]].iter() {
                in_vocab(id, "merged token")?;
            }
        }
        if merges
            .windows(2)
            .any(|w| (w[0][0], w[0][1]) >= (w[1][0], w[1][1]))
        {
            return Err("the tokenizer's merges are not sorted".into());
        }
        let template_len = r.u32("the chat template's length")?;
        let chat_template =
            std::str::from_utf8(r.take(template_len as usize, "the chat template")?)
                .map_err(|e| format!("the chat template is not UTF-8: {e}"))?
                .to_string();
        let token =
            |id: u32| &bytes[offsets[id as usize] as usize..offsets[id as usize + 1] as usize];
        let mut byte_id = [None; 256];
        for id in 0..size {
            if let [b] = token(id)
                && !special_ids.contains(&id)
                && byte_id[*b as usize].is_none()
            {
                byte_id[*b as usize] = Some(id);
            }
        }
        // Every printable ASCII byte has a token in a byte-level vocabulary.
        if let Some(b) = (b' '..=b'~').find(|&b| byte_id[b as usize].is_none()) {
            return Err(format!(
                "the tokenizer has no token for byte {b:#04x}: not a byte-level BPE"
            ));
        }
        let mut specials: Vec<(String, u32)> = special_ids
            .iter()
            .filter_map(|&id| {
                let text = std::str::from_utf8(token(id)).ok()?;
                (!text.is_empty()).then(|| (text.to_string(), id))
            })
            .collect();
        specials.sort_by_key(|s| Reverse(s.0.len()));
        Ok(Self {
            tokenizer: Tokenizer {
                bytes,
                offsets,
                byte_id,
                merges,
                specials,
                special_ids,
            },
            bos,
            eos,
            context,
            chat_template,
        })
    }
}

impl Tokenizer {
    /// The merge of the pair (a, b): its rank and the merged id.
    fn merge(&self, a: u32, b: u32) -> Option<(u32, u32)> {
        self.merges
            .binary_search_by(|m| (m[0], m[1]).cmp(&(a, b)))
            .ok()
            .map(|i| (self.merges[i][2], self.merges[i][3]))
    }

    /// The number of ids.
    pub fn vocab_size(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Whether `id` is a special (control) token.
    pub fn is_special(&self, id: u32) -> bool {
        self.special_ids.contains(&id)
    }

    /// The ids of `text`, special tokens included as such.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            match self.next_special(rest) {
                Some((at, len, id)) => {
                    self.encode_plain(&rest[..at], &mut ids);
                    ids.push(id);
                    rest = &rest[at + len..];
                }
                None => {
                    self.encode_plain(rest, &mut ids);
                    break;
                }
            }
        }
        ids
    }

    /// The first special token in `text`: (byte offset, length, id).
    fn next_special(&self, text: &str) -> Option<(usize, usize, u32)> {
        if self.specials.is_empty() {
            return None;
        }
        text.char_indices().find_map(|(at, _)| {
            self.specials
                .iter()
                .find(|(s, _)| text[at..].starts_with(s.as_str()))
                .map(|(s, id)| (at, s.len(), *id))
        })
    }

    fn encode_plain(&self, text: &str, ids: &mut Vec<u32>) {
        for digits_piece in split_digits(text) {
            for piece in split_gpt2(digits_piece) {
                self.bpe(piece, ids);
            }
        }
    }

    /// Merges one piece's bytes by rank (a heap of candidate pairs over a
    /// linked list of symbols: n log n, whatever the piece's length).
    fn bpe(&self, piece: &str, ids: &mut Vec<u32>) {
        let mut sym: Vec<u32> = piece
            .bytes()
            .filter_map(|b| self.byte_id[b as usize])
            .collect();
        let n = sym.len();
        if n < 2 {
            ids.extend(sym);
            return;
        }
        let mut prev: Vec<usize> = (0..n).map(|i| i.wrapping_sub(1)).collect();
        let mut next: Vec<usize> = (1..=n).collect();
        let mut alive = vec![true; n];
        let mut heap = BinaryHeap::new();
        let push = |heap: &mut BinaryHeap<_>, sym: &[u32], i: usize, j: usize| {
            if let Some((rank, merged)) = self.merge(sym[i], sym[j]) {
                heap.push(Reverse((rank, i, j, sym[i], sym[j], merged)));
            }
        };
        for i in 0..n - 1 {
            push(&mut heap, &sym, i, i + 1);
        }
        while let Some(Reverse((_, i, j, a, b, merged))) = heap.pop() {
            // Skip pairs a merge has changed since they were queued.
            if !alive[i] || !alive[j] || next[i] != j || sym[i] != a || sym[j] != b {
                continue;
            }
            sym[i] = merged;
            alive[j] = false;
            next[i] = next[j];
            if next[j] < n {
                prev[next[j]] = i;
            }
            if prev[i] < n {
                push(&mut heap, &sym, prev[i], i);
            }
            if next[i] < n {
                push(&mut heap, &sym, i, next[i]);
            }
        }
        let mut i = 0;
        while i < n {
            ids.push(sym[i]);
            i = next[i];
        }
    }

    /// The bytes of `id` (a special token's text as it is; empty for an id
    /// outside the vocabulary).
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        let i = id as usize;
        match (self.offsets.get(i), self.offsets.get(i + 1)) {
            (Some(&a), Some(&b)) => &self.bytes[a as usize..b as usize],
            _ => &[],
        }
    }

    /// The text of `ids` (invalid UTF-8 replaced).
    pub fn decode(&self, ids: &[u32]) -> String {
        let bytes: Vec<u8> = ids
            .iter()
            .flat_map(|&id| self.token_bytes(id).iter().copied())
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// Splits off every numeric character on its own (`Digits`, individual).
fn split_digits(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    for (at, c) in text.char_indices() {
        if c.is_numeric() {
            if start < at {
                out.push(&text[start..at]);
            }
            out.push(&text[at..at + c.len_utf8()]);
            start = at + c.len_utf8();
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

fn is_letter(c: char) -> bool {
    matches!(
        get_general_category(c),
        GeneralCategory::UppercaseLetter
            | GeneralCategory::LowercaseLetter
            | GeneralCategory::TitlecaseLetter
            | GeneralCategory::ModifierLetter
            | GeneralCategory::OtherLetter
    )
}

fn is_number(c: char) -> bool {
    matches!(
        get_general_category(c),
        GeneralCategory::DecimalNumber
            | GeneralCategory::LetterNumber
            | GeneralCategory::OtherNumber
    )
}

/// GPT-2's pre-tokenizer pattern:
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
fn split_gpt2(text: &str) -> Vec<&str> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let end = text.len();
    let at = |i: usize| chars.get(i).map_or(end, |c| c.0);
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let len = match_at(&chars, i);
        out.push(&text[at(i)..at(i + len)]);
        i += len;
    }
    out
}

/// The length in characters of the pattern's match at `i` (at least 1).
fn match_at(chars: &[(usize, char)], i: usize) -> usize {
    let c = |k: usize| chars.get(k).map(|x| x.1);
    let run = |from: usize, f: &dyn Fn(char) -> bool| {
        let mut k = from;
        while c(k).is_some_and(f) {
            k += 1;
        }
        k - from
    };
    // Contractions.
    if c(i) == Some('\'') {
        for suffix in ["s", "t", "re", "ve", "m", "ll", "d"] {
            if suffix
                .chars()
                .enumerate()
                .all(|(k, s)| c(i + 1 + k) == Some(s))
            {
                return 1 + suffix.len();
            }
        }
    }
    // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`
    let other = |ch: char| !ch.is_whitespace() && !is_letter(ch) && !is_number(ch);
    let space = usize::from(c(i) == Some(' '));
    for class in [&is_letter as &dyn Fn(char) -> bool, &is_number, &other] {
        let n = run(i + space, class);
        if n > 0 {
            return space + n;
        }
    }
    // `\s+(?!\S)`, then `\s+`: a whitespace run, less its last character
    // when a word follows it (that character joins the word).
    let n = run(i, &|ch: char| ch.is_whitespace());
    if n > 0 {
        let followed = c(i + n).is_some();
        return if followed && n > 1 { n - 1 } else { n };
    }
    1
}

/// Turns token bytes into text as they come: only whole characters are
/// released; an invalid sequence becomes U+FFFD once it cannot be completed.
#[derive(Debug, Default)]
pub struct Utf8Stream {
    pending: Vec<u8>,
}

impl Utf8Stream {
    /// Adds bytes; returns the text they complete.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    out.push_str(s);
                    self.pending.clear();
                    return out;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    out.push_str(std::str::from_utf8(&self.pending[..valid]).unwrap_or_default());
                    match e.error_len() {
                        // An incomplete character at the end: wait for more.
                        None => {
                            self.pending.drain(..valid);
                            return out;
                        }
                        Some(bad) => {
                            out.push('\u{FFFD}');
                            self.pending.drain(..valid + bad);
                        }
                    }
                }
            }
        }
    }

    /// What is left at the end (an unfinished character becomes U+FFFD).
    pub fn finish(&mut self) -> String {
        let rest = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(s: &str) -> Vec<&str> {
        split_digits(s).into_iter().flat_map(split_gpt2).collect()
    }

    #[test]
    fn gpt2_split_matches_the_pattern() {
        assert_eq!(pieces("Hello world"), ["Hello", " world"]);
        assert_eq!(pieces("a  b"), ["a", " ", " b"]);
        assert_eq!(pieces("a \n b"), ["a", " \n", " b"]);
        assert_eq!(pieces("end   "), ["end", "   "]);
        assert_eq!(pieces("it's 42!"), ["it", "'s", " ", "4", "2", "!"]);
        assert_eq!(pieces("x\n\ny"), ["x", "\n", "\n", "y"]);
    }

    #[test]
    fn utf8_stream_waits_for_whole_characters() {
        let mut s = Utf8Stream::default();
        let euro = "€".as_bytes();
        assert_eq!(s.push(&euro[..1]), "");
        assert_eq!(s.push(&euro[1..]), "€");
        assert_eq!(s.push(b"\xffa"), "\u{FFFD}a");
        assert_eq!(s.push(&euro[..2]), "");
        assert_eq!(s.finish(), "\u{FFFD}");
    }
}
