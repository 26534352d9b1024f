//! Byte-level BPE, read from a Hugging Face `tokenizer.json`: the GPT-2
//! family's scheme that SmolLM2 (and Llama 3, Qwen, StarCoder...) use.
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
use std::collections::{BinaryHeap, HashMap};

use serde::Deserialize;
use unicode_general_category::{GeneralCategory, get_general_category};

/// A tokenizer.
#[derive(Debug)]
pub struct Tokenizer {
    /// Id → token string (byte-level characters, or a special token's text).
    tokens: Vec<String>,
    /// Byte-level characters of each byte, and back.
    byte_char: [char; 256],
    char_byte: HashMap<char, u8>,
    /// The id of each single byte; a byte without one is dropped, as
    /// `tokenizers` does for a BPE without an unknown token.
    byte_id: [Option<u32>; 256],
    /// (left, right) → (rank, merged id).
    merges: HashMap<(u32, u32), (u32, u32)>,
    /// Special tokens, longest first (so that a longer one wins at a position).
    specials: Vec<(String, u32)>,
    special_ids: Vec<u32>,
}

#[derive(Deserialize)]
struct Json {
    added_tokens: Vec<Added>,
    model: Model,
}

#[derive(Deserialize)]
struct Added {
    id: u32,
    content: String,
    special: bool,
}

#[derive(Deserialize)]
struct Model {
    #[serde(rename = "type")]
    kind: String,
    vocab: HashMap<String, u32>,
    merges: Vec<Merge>,
}

/// Merges come as "a b" strings (older files) or ["a", "b"] pairs.
#[derive(Deserialize)]
#[serde(untagged)]
enum Merge {
    Joined(String),
    Pair(String, String),
}

/// GPT-2's map of bytes to printable characters: printable Latin-1 bytes
/// stand for themselves, the rest are moved to U+0100 and up.
fn byte_chars() -> [char; 256] {
    let mut out = ['\0'; 256];
    let mut next = 256u32;
    for b in 0..=255u8 {
        let printable = matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
        out[b as usize] = if printable {
            char::from(b)
        } else {
            let c = char::from_u32(next).unwrap_or('\u{FFFD}');
            next += 1;
            c
        };
    }
    out
}

impl Tokenizer {
    /// Reads a `tokenizer.json` (as a JSON value already parsed from the blob).
    pub fn from_json(value: serde_json::Value) -> Result<Self, String> {
        let json: Json = serde_json::from_value(value)
            .map_err(|e| format!("the tokenizer is not a tokenizer.json this plugin reads: {e}"))?;
        if json.model.kind != "BPE" {
            return Err(format!(
                "the tokenizer's model is {:?}; this plugin reads byte-level BPE",
                json.model.kind
            ));
        }
        let size = json
            .model
            .vocab
            .values()
            .copied()
            .max()
            .map_or(0, |m| m as usize + 1);
        if size == 0 || size > 1 << 20 {
            return Err(format!("the tokenizer's vocabulary has {size} entries"));
        }
        let mut tokens = vec![String::new(); size];
        for (t, &id) in &json.model.vocab {
            tokens[id as usize] = t.clone();
        }
        let byte_char = byte_chars();
        let char_byte = byte_char
            .iter()
            .enumerate()
            .map(|(b, &c)| (c, b as u8))
            .collect();
        let mut byte_id = [None; 256];
        for (b, c) in byte_char.iter().enumerate() {
            byte_id[b] = json.model.vocab.get(&c.to_string()).copied();
        }
        // Every printable ASCII byte has a token in a byte-level vocabulary.
        if let Some(b) = (b' '..=b'~').find(|&b| byte_id[b as usize].is_none()) {
            return Err(format!(
                "the tokenizer has no token for byte {b:#04x}: not a byte-level BPE"
            ));
        }
        let mut merges = HashMap::with_capacity(json.model.merges.len());
        for (rank, m) in json.model.merges.iter().enumerate() {
            let (a, b) = match m {
                Merge::Joined(s) => s
                    .split_once(' ')
                    .ok_or_else(|| format!("merge {rank} ({s:?}) is not two tokens"))?,
                Merge::Pair(a, b) => (a.as_str(), b.as_str()),
            };
            let id = |t: &str| {
                json.model.vocab.get(t).copied().ok_or_else(|| {
                    format!("merge {rank} names {t:?}, which is not in the vocabulary")
                })
            };
            let merged = id(&format!("{a}{b}"))?;
            merges
                .entry((id(a)?, id(b)?))
                .or_insert((rank as u32, merged));
        }
        let mut specials: Vec<(String, u32)> = json
            .added_tokens
            .iter()
            .filter(|a| a.special && !a.content.is_empty())
            .map(|a| (a.content.clone(), a.id))
            .collect();
        for (content, id) in &specials {
            match tokens.get_mut(*id as usize) {
                Some(slot) => *slot = content.clone(),
                None => {
                    return Err(format!(
                        "special token {content:?} has id {id}, outside the vocabulary"
                    ));
                }
            }
        }
        specials.sort_by_key(|s| std::cmp::Reverse(s.0.len()));
        let special_ids = specials.iter().map(|s| s.1).collect();
        Ok(Self {
            tokens,
            byte_char,
            char_byte,
            byte_id,
            merges,
            specials,
            special_ids,
        })
    }

    /// The number of ids.
    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
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
            if let Some(&(rank, merged)) = self.merges.get(&(sym[i], sym[j])) {
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

    /// The bytes of `id` (a special token's text as it is).
    pub fn token_bytes(&self, id: u32) -> Vec<u8> {
        let Some(t) = self.tokens.get(id as usize) else {
            return Vec::new();
        };
        if self.is_special(id) {
            return t.as_bytes().to_vec();
        }
        t.chars()
            .filter_map(|c| self.char_byte.get(&c).copied())
            .collect()
    }

    /// The text of `ids` (invalid UTF-8 replaced).
    pub fn decode(&self, ids: &[u32]) -> String {
        let bytes: Vec<u8> = ids.iter().flat_map(|&id| self.token_bytes(id)).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The byte-level character of byte `b` (for tests).
    pub fn byte_char(&self, b: u8) -> char {
        self.byte_char[b as usize]
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
