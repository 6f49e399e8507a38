//! The standard LFW pairs files (`pairsDevTrain.txt`, `pairsDevTest.txt`, `pairs.txt`).
//!
//! The first line is either a count `N` (N same pairs `name i j`, then N different pairs
//! `name1 i name2 j`) or `F N` (F folds, each of N same then N different pairs). Fields are
//! separated by tabs or spaces. The parser is strict about structure, because a pairs file
//! that silently loses lines changes every reported accuracy, but lenient about whitespace.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use super::{DataError, ImageKey, PairsProblem};

/// Two images and whether LFW says they show the same person.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pair {
    /// The first image.
    pub a: ImageKey,
    /// The second image.
    pub b: ImageKey,
    /// The 1-based line of the pairs file this pair came from.
    pub line: usize,
    /// The 0-based fold (always 0 in a one-count file).
    pub fold: usize,
}

impl Pair {
    /// Whether both images show the same person.
    pub fn is_same(&self) -> bool {
        self.a.name == self.b.name
    }

    /// The identity names of the pair (the same name twice for a same pair).
    pub fn names(&self) -> [&str; 2] {
        [&self.a.name, &self.b.name]
    }
}

/// Reads and parses a pairs file.
///
/// # Errors
/// [`DataError::ReadFile`] when the file cannot be read, and the errors of [`parse_pairs`].
pub fn read_pairs(path: &Path) -> Result<Vec<Pair>, DataError> {
    let text = fs::read_to_string(path).map_err(|source| DataError::ReadFile {
        path: path.to_path_buf(),
        source,
    })?;
    parse_pairs(&text, path)
}

/// Parses the text of a pairs file; `source` is only used to name the file in errors.
///
/// Trailing whitespace, CRLF line ends and trailing blank lines are accepted.
///
/// # Errors
/// [`DataError::PairsLine`] naming the line and what is wrong with it, or
/// [`DataError::PairsCount`] when the file holds more or fewer pairs than its header says.
pub fn parse_pairs(text: &str, source: &Path) -> Result<Vec<Pair>, DataError> {
    let line_err = |line, problem| DataError::PairsLine {
        path: source.to_path_buf(),
        line,
        problem,
    };
    let mut lines: Vec<&str> = text.lines().collect();
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    let Some(header) = lines.first() else {
        return Err(line_err(1, PairsProblem::Empty));
    };
    let (folds, per_side) = parse_header(header).map_err(|p| line_err(1, p))?;
    let block = per_side.saturating_mul(2);
    let expected = folds.saturating_mul(block);
    let body = &lines[1..];
    let mut pairs = Vec::with_capacity(expected.min(body.len()));
    for (index, text) in body.iter().enumerate().take(expected) {
        let line = index + 2;
        let same_expected = index % block < per_side;
        let (a, b) = parse_pair(text, same_expected).map_err(|p| line_err(line, p))?;
        pairs.push(Pair {
            a,
            b,
            line,
            fold: index / block,
        });
    }
    if body.len() != expected {
        return Err(DataError::PairsCount {
            path: source.to_path_buf(),
            expected,
            found: body.len(),
        });
    }
    Ok(pairs)
}

/// Renders pairs in the standard format, the inverse of [`parse_pairs`].
///
/// Expects pairs laid out as `parse_pairs` returns them: per fold, the same pairs and then
/// as many different pairs. A single fold gets the one-count header (`N`), several folds
/// get `F N`. Fields are tab-separated and lines end with `\n`.
pub fn render_pairs(pairs: &[Pair]) -> String {
    let folds = pairs.iter().map(|p| p.fold + 1).max().unwrap_or(1);
    let per_side = pairs.iter().filter(|p| p.fold == 0 && p.is_same()).count();
    let mut out = if folds > 1 {
        format!("{folds}\t{per_side}\n")
    } else {
        format!("{per_side}\n")
    };
    for pair in pairs {
        // Writing to a String cannot fail.
        let _ = if pair.is_same() {
            writeln!(out, "{}\t{}\t{}", pair.a.name, pair.a.number, pair.b.number)
        } else {
            let (a, b) = (&pair.a, &pair.b);
            writeln!(out, "{}\t{}\t{}\t{}", a.name, a.number, b.name, b.number)
        };
    }
    out
}

/// Reads the header: `N` is one fold of N, `F N` is F folds of N.
fn parse_header(text: &str) -> Result<(usize, usize), PairsProblem> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    let count = |field, text: &str| {
        text.parse::<usize>().map_err(|_| PairsProblem::BadNumber {
            field,
            text: text.to_string(),
        })
    };
    match fields.as_slice() {
        [n] => Ok((1, count("pair count", n)?)),
        [f, n] => Ok((count("fold count", f)?, count("pair count", n)?)),
        _ => Err(PairsProblem::BadHeader {
            text: text.trim().to_string(),
        }),
    }
}

/// Reads one pair line, of the kind (same or different) its position calls for.
fn parse_pair(text: &str, same_expected: bool) -> Result<(ImageKey, ImageKey), PairsProblem> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    match (fields.as_slice(), same_expected) {
        ([], _) => Err(PairsProblem::BlankLine),
        ([name, i, j], true) => Ok((
            ImageKey::new(*name, image_number(i)?),
            ImageKey::new(*name, image_number(j)?),
        )),
        ([name1, i, name2, j], false) => {
            if name1 == name2 {
                return Err(PairsProblem::SameNameInDifferent {
                    name: name1.to_string(),
                });
            }
            Ok((
                ImageKey::new(*name1, image_number(i)?),
                ImageKey::new(*name2, image_number(j)?),
            ))
        }
        ([_, _, _], false) => Err(PairsProblem::SameWhereDifferent),
        ([_, _, _, _], true) => Err(PairsProblem::DifferentWhereSame),
        (other, same) => Err(PairsProblem::FieldCount {
            expected: if same { 3 } else { 4 },
            found: other.len(),
        }),
    }
}

/// An image number: a whole number from 1 (LFW counts from `0001`).
fn image_number(text: &str) -> Result<u32, PairsProblem> {
    text.parse::<u32>()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| PairsProblem::BadNumber {
            field: "image number (1 or more)",
            text: text.to_string(),
        })
}

#[cfg(test)]
mod tests;
