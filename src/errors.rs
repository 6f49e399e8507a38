//! Turning an error into one line of text for the user: the error and each of its causes,
//! every cause printed once.
//!
//! The crate's errors name what failed (a file, a stage, an action) and keep their cause as
//! [`std::error::Error::source`] instead of repeating it in their message; [`chain`] is how
//! such an error becomes text wherever it does not go through anyhow's `{:#}` (skipped items,
//! cache rebuild reasons, lists of errors, the CLI's last word).

use std::error::Error;

/// `err` and its causes, outermost first, joined by ": ", each without trailing whitespace.
///
/// A cause whose text already ends its parent's message is left out: some libraries'
/// errors (image's `DecodingError`, for one) both print their cause and return it as their
/// source, and the user should read it once.
pub fn chain(err: &dyn Error) -> String {
    let mut out = err.to_string().trim_end().to_string();
    let mut parent = out.clone();
    let mut cause = err.source();
    while let Some(next) = cause {
        let text = next.to_string().trim_end().to_string();
        if !text.is_empty() && !parent.ends_with(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
        parent = text;
        cause = next.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use std::fmt;

    use super::*;

    /// A test error: its message, and optionally a cause.
    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for Layer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|e| e as &(dyn Error + 'static))
        }
    }

    fn layers(messages: &[&'static str]) -> Layer {
        messages
            .iter()
            .rev()
            .fold(None, |cause, m| Some(Layer(m, cause.map(Box::new))))
            .expect("at least one message")
    }

    #[test]
    fn an_error_without_a_cause_is_its_message() {
        assert_eq!(
            chain(&layers(&["cannot sample pairs"])),
            "cannot sample pairs"
        );
    }

    #[test]
    fn causes_follow_their_error_outermost_first() {
        let err = layers(&["stage `decode`", "cannot read a.jpg", "permission denied"]);
        assert_eq!(
            chain(&err),
            "stage `decode`: cannot read a.jpg: permission denied"
        );
    }

    #[test]
    fn a_cause_its_parent_already_printed_is_not_repeated() {
        let err = layers(&[
            "cannot decode a.jpg",
            "Format error decoding Jpeg: bad marker",
            "bad marker",
        ]);
        assert_eq!(
            chain(&err),
            "cannot decode a.jpg: Format error decoding Jpeg: bad marker"
        );
    }

    #[test]
    fn trailing_newlines_of_messages_are_dropped() {
        let err = layers(&["cannot decode a.jpg", "Format error: eof\n", "eof\n"]);
        assert_eq!(chain(&err), "cannot decode a.jpg: Format error: eof");
    }

    #[test]
    fn an_io_error_inside_thiserror_errors_is_printed_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("cannot read {path}")]
        struct Read {
            path: &'static str,
            #[source]
            source: std::io::Error,
        }
        #[derive(Debug, thiserror::Error)]
        #[error("stage `{stage}`")]
        struct Stage {
            stage: &'static str,
            #[source]
            source: Read,
        }
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let err = Stage {
            stage: "decode",
            source: Read {
                path: "a.jpg",
                source: io,
            },
        };
        let text = chain(&err);
        assert_eq!(text, "stage `decode`: cannot read a.jpg: no such file");
        assert_eq!(text.matches("no such file").count(), 1);
    }
}
