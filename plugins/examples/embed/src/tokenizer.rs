//! BERT's uncased WordPiece tokenizer, as all-MiniLM-L6-v2's `tokenizer.json`
//! configures it (BertNormalizer: clean text, CJK characters split, lower
//! case, accents stripped; BertPreTokenizer; WordPiece with `##`, `[UNK]`,
//! 100 characters per word at most; `[CLS] ... [SEP]`, at most 128 tokens).
//!
//! Punctuation is ASCII punctuation plus the common Unicode punctuation
//! blocks (General Punctuation, CJK Symbols and Punctuation, the fullwidth
//! ASCII punctuation, Latin-1's ¡§«¶·»¿), which covers the categories P* of
//! the text we expect without a full Unicode table.

use std::collections::HashMap;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// The longest sequence, special tokens included.
pub const MAX_LEN: usize = 128;

/// A WordPiece vocabulary.
#[derive(Debug)]
pub struct Tokenizer {
    ids: HashMap<String, i64>,
    unk: i64,
    cls: i64,
    sep: i64,
}

fn is_punct(c: char) -> bool {
    let u = c as u32;
    c.is_ascii_punctuation()
        || (0x2000..=0x206f).contains(&u)
        || (0x3000..=0x303f).contains(&u)
        || (0xff01..=0xff0f).contains(&u)
        || (0xff1a..=0xff20).contains(&u)
        || (0xff3b..=0xff40).contains(&u)
        || (0xff5b..=0xff65).contains(&u)
        || matches!(u, 0xa1 | 0xa7 | 0xab | 0xb6 | 0xb7 | 0xbb | 0xbf)
}

fn is_cjk(c: char) -> bool {
    let u = c as u32;
    (0x4e00..=0x9fff).contains(&u)
        || (0x3400..=0x4dbf).contains(&u)
        || (0x20000..=0x2a6df).contains(&u)
        || (0x2a700..=0x2b73f).contains(&u)
        || (0x2b740..=0x2b81f).contains(&u)
        || (0x2b820..=0x2ceaf).contains(&u)
        || (0xf900..=0xfaff).contains(&u)
        || (0x2f800..=0x2fa1f).contains(&u)
}

fn is_control(c: char) -> bool {
    if matches!(c, '\t' | '\n' | '\r') {
        return false;
    }
    c.is_control()
}

/// BertNormalizer then BertPreTokenizer: the words to look up.
pub fn pre_tokenize(text: &str) -> Vec<String> {
    let mut cleaned = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\0' || c == '\u{fffd}' || is_control(c) {
            continue;
        }
        if c.is_whitespace() {
            cleaned.push(' ');
        } else if is_cjk(c) {
            cleaned.push(' ');
            cleaned.push(c);
            cleaned.push(' ');
        } else {
            cleaned.push(c);
        }
    }
    let lowered: String = cleaned
        .to_lowercase()
        .nfd()
        .filter(|c| !is_combining_mark(*c))
        .collect();
    let mut words = Vec::new();
    for chunk in lowered.split_whitespace() {
        let mut cur = String::new();
        for c in chunk.chars() {
            if is_punct(c) {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
                words.push(c.to_string());
            } else {
                cur.push(c);
            }
        }
        if !cur.is_empty() {
            words.push(cur);
        }
    }
    words
}

impl Tokenizer {
    /// From a `vocab.txt`: one token per line, the line number is the id.
    pub fn from_vocab(vocab: &str) -> Result<Self, String> {
        let ids: HashMap<String, i64> = vocab
            .lines()
            .enumerate()
            .map(|(i, t)| (t.to_string(), i as i64))
            .collect();
        let get = |t: &str| {
            ids.get(t)
                .copied()
                .ok_or_else(|| format!("vocabulary lacks {t}"))
        };
        Ok(Self {
            unk: get("[UNK]")?,
            cls: get("[CLS]")?,
            sep: get("[SEP]")?,
            ids,
        })
    }

    fn wordpiece(&self, word: &str, out: &mut Vec<i64>) {
        let chars: Vec<char> = word.chars().collect();
        if chars.len() > 100 {
            out.push(self.unk);
            return;
        }
        let mut pieces = Vec::new();
        let mut start = 0;
        while start < chars.len() {
            let mut end = chars.len();
            let mut found = None;
            while start < end {
                let mut s: String = chars[start..end].iter().collect();
                if start > 0 {
                    s.insert_str(0, "##");
                }
                if let Some(&id) = self.ids.get(&s) {
                    found = Some(id);
                    break;
                }
                end -= 1;
            }
            match found {
                Some(id) => {
                    pieces.push(id);
                    start = end;
                }
                None => {
                    out.push(self.unk);
                    return;
                }
            }
        }
        out.extend(pieces);
    }

    /// Token ids of `text`: `[CLS]`, the pieces (cut to fit), `[SEP]`.
    pub fn encode(&self, text: &str) -> Vec<i64> {
        let mut ids = vec![self.cls];
        for w in pre_tokenize(text) {
            self.wordpiece(&w, &mut ids);
        }
        ids.truncate(MAX_LEN - 1);
        ids.push(self.sep);
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok() -> Tokenizer {
        Tokenizer::from_vocab(include_str!("vocab.txt")).unwrap()
    }

    #[test]
    fn pre_tokenizer_splits_punctuation_cjk_and_strips_accents() {
        assert_eq!(pre_tokenize("Héllo, WORLD!"), ["hello", ",", "world", "!"]);
        assert_eq!(pre_tokenize("a\u{0}b\tc"), ["ab", "c"]);
        assert_eq!(pre_tokenize("中文ok"), ["中", "文", "ok"]);
    }

    #[test]
    fn known_ids_of_bert_uncased() {
        let t = tok();
        // [CLS]=101 hello=7592 world=2088 [SEP]=102
        assert_eq!(t.encode("Hello world"), vec![101, 7592, 2088, 102]);
        // An unknown word becomes pieces or [UNK] (100).
        let ids = t.encode("wasmtime");
        assert_eq!(ids.first(), Some(&101));
        assert!(ids.len() > 3, "{ids:?}");
        assert_eq!(t.encode("\u{1F600}"), vec![101, 100, 102]);
    }

    #[test]
    fn long_text_is_cut_to_the_maximum() {
        let ids = tok().encode(&"word ".repeat(500));
        assert_eq!(ids.len(), MAX_LEN);
        assert_eq!(ids[MAX_LEN - 1], 102);
    }
}
