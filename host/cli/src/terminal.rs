//! Plugin-controlled text on the operator's terminal.
//!
//! Names, descriptions, logs, errors and outputs come from code written by
//! strangers. On a terminal, a control character in them could move the
//! cursor, rewrite earlier lines, clear the screen, set the window title or
//! colours, and a bidirectional override could reorder what the operator
//! reads. So when a stream is a terminal, every control character other than
//! newline and tab, and every bidirectional control, is shown as its escape
//! (`\u{1b}`). Into a pipe or a file the text goes unchanged: a script gets
//! the bytes the plugin produced (and `--json` escapes on its own).

use std::borrow::Cow;
use std::io::IsTerminal;

/// An output stream of the CLI.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// Whether the stream is a terminal.
    pub(crate) fn is_terminal(self) -> bool {
        match self {
            Stream::Stdout => std::io::stdout().is_terminal(),
            Stream::Stderr => std::io::stderr().is_terminal(),
        }
    }
}

/// `text` as it may be shown on `stream`: escaped on a terminal, unchanged
/// elsewhere.
pub(crate) fn shown(text: &str, stream: Stream) -> Cow<'_, str> {
    if stream.is_terminal() {
        escape(text)
    } else {
        Cow::Borrowed(text)
    }
}

/// [`shown`] for text on standard error (errors, logs, notes).
pub(crate) fn on_stderr(text: &str) -> Cow<'_, str> {
    shown(text, Stream::Stderr)
}

/// [`shown`] for text on standard output.
pub(crate) fn on_stdout(text: &str) -> Cow<'_, str> {
    shown(text, Stream::Stdout)
}

/// Whether `c` may act on a terminal instead of being shown.
fn acts(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// `text` with every character that would act on a terminal escaped.
pub(crate) fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(acts) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if acts(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_acts_on_a_terminal_and_keeps_the_rest() {
        assert!(matches!(escape("plain text\nwith\ttabs"), Cow::Borrowed(_)));
        assert_eq!(escape("\u{1b}[2Jgone"), "\\u{1b}[2Jgone");
        assert_eq!(
            escape("title\u{1b}]0;pwned\u{7}"),
            "title\\u{1b}]0;pwned\\u{7}"
        );
        assert_eq!(escape("a\rb\u{8}c"), "a\\u{d}b\\u{8}c");
        assert_eq!(escape("\u{202e}txt.exe"), "\\u{202e}txt.exe");
        assert_eq!(escape("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(escape("ünïcödé ✓"), "ünïcödé ✓");
    }
}
