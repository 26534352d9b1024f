//! The tokenizer against the Python `tokenizers` package on tricky strings
//! (golden/tokenizer-cases.json, written by golden/tokenizer.py from the same
//! GGUF's tokenizer), the chat template as the model's own, and blobs that do
//! not parse. The blob comes from the set-up's model cache.

use std::path::PathBuf;

use chat::{Message, Vocabulary};

fn blob() -> Vec<u8> {
    let cache = std::env::var_os("CLUSTERAI_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/clusterai")
        });
    let path = cache.join("models/smollm2-tokenizer.bin");
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (scripts/setup-models.sh makes it)", path.display()))
}

#[derive(serde::Deserialize)]
struct Case {
    text: String,
    ids: Vec<u32>,
    decoded: String,
}

#[test]
fn encodes_and_decodes_like_the_reference() {
    let vocab = Vocabulary::from_blob(&blob()).unwrap();
    let cases: Vec<Case> =
        serde_json::from_str(include_str!("../golden/tokenizer-cases.json")).unwrap();
    assert!(cases.len() > 20);
    for case in &cases {
        let ids = vocab.tokenizer.encode(&case.text);
        assert_eq!(ids, case.ids, "encoding {:?}", case.text);
        assert_eq!(
            vocab.tokenizer.decode(&ids),
            case.decoded,
            "decoding {:?}",
            case.text
        );
    }
}

#[test]
fn a_long_piece_encodes_in_reasonable_time() {
    // One 200 000-letter word: the merge loop must not be quadratic.
    let vocab = Vocabulary::from_blob(&blob()).unwrap();
    let text = "ab".repeat(100_000);
    let started = std::time::Instant::now();
    let ids = vocab.tokenizer.encode(&text);
    assert!(!ids.is_empty());
    assert_eq!(vocab.tokenizer.decode(&ids), text);
    assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
}

#[test]
fn renders_the_models_chat_template() {
    let vocab = Vocabulary::from_blob(&blob()).unwrap();
    let text = vocab
        .render_chat(&[Message {
            role: "user".into(),
            content: "Hi".into(),
        }])
        .unwrap();
    assert_eq!(
        text,
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n\
         <|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    );
}

#[test]
fn blobs_that_do_not_parse_are_named() {
    let good = blob();
    let refuse = |bytes: &[u8], needle: &str| {
        let e = Vocabulary::from_blob(bytes).unwrap_err();
        assert!(e.contains(needle), "{needle:?} not in {e}");
    };
    refuse(b"not a blob", "no CLTK magic");
    refuse(br#"{"tokenizer": {}}"#, "no CLTK magic");
    // Cut anywhere: the part missing is named, nothing panics.
    for cut in [4, 9, 30, 1000, good.len() / 2, good.len() - 1] {
        refuse(&good[..cut], "truncated");
    }
    let mut bad = good.clone();
    bad[4] = 9;
    refuse(&bad, "version 9");
    let mut bad = good.clone();
    bad[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    refuse(&bad, "vocabulary has");
    // An out-of-range id in the last merge.
    let mut bad = good.clone();
    let merge_end = good.len() - 4 - template_len(&good);
    bad[merge_end - 4..merge_end].copy_from_slice(&u32::MAX.to_le_bytes());
    refuse(&bad, "outside the vocabulary");
}

/// The length of the chat template at the blob's end (it is the last field).
fn template_len(blob: &[u8]) -> usize {
    let t = Vocabulary::from_blob(blob).unwrap().chat_template.len();
    assert_eq!(
        u32::from_le_bytes(blob[blob.len() - t - 4..blob.len() - t].try_into().unwrap()) as usize,
        t
    );
    t
}
