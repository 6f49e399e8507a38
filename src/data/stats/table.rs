//! A minimal aligned text table, drawn like the seed's `PrettyTable` output so the numbers
//! can be compared side by side. Small enough that a table crate is not worth its build.

use std::fmt;

/// A titled table: a header row and data rows. Columns of numbers are right-aligned,
/// columns holding any text (and always the first) left-aligned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    title: String,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// Starts a table with a title line and column headings.
    pub fn new(title: impl Into<String>, header: &[&str]) -> Self {
        Self {
            title: title.into(),
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row; missing cells print empty, extra cells are kept.
    pub fn row(&mut self, cells: Vec<String>) -> &mut Self {
        self.rows.push(cells);
        self
    }

    /// The width of each column: its widest cell.
    fn widths(&self) -> Vec<usize> {
        let columns = self
            .rows
            .iter()
            .map(Vec::len)
            .chain([self.header.len()])
            .max()
            .unwrap_or(0);
        (0..columns)
            .map(|c| {
                std::iter::once(&self.header)
                    .chain(&self.rows)
                    .filter_map(|row| row.get(c))
                    .map(|cell| cell.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect()
    }

    /// Whether each column is left-aligned: the first, and any holding a non-number.
    fn left_aligned(&self, columns: usize) -> Vec<bool> {
        (0..columns)
            .map(|c| {
                c == 0
                    || self
                        .rows
                        .iter()
                        .filter_map(|row| row.get(c))
                        .any(|cell| !looks_numeric(cell))
            })
            .collect()
    }
}

/// Numbers, percentages and the `-` placeholder; empty cells do not decide alignment.
fn looks_numeric(cell: &str) -> bool {
    cell.is_empty() || cell == "-" || cell.trim_end_matches('%').parse::<f64>().is_ok()
}

/// Writes `+-----+---+` for the given column widths.
fn rule(f: &mut fmt::Formatter<'_>, widths: &[usize]) -> fmt::Result {
    for w in widths {
        write!(f, "+{}", "-".repeat(w + 2))?;
    }
    writeln!(f, "+")
}

/// Writes one row, padding each cell to its column.
fn cells(
    f: &mut fmt::Formatter<'_>,
    widths: &[usize],
    left: &[bool],
    row: &[String],
) -> fmt::Result {
    for (c, (w, left)) in widths.iter().zip(left).enumerate() {
        let cell = row.get(c).map_or("", String::as_str);
        if *left {
            write!(f, "| {cell:<w$} ")?;
        } else {
            write!(f, "| {cell:>w$} ")?;
        }
    }
    writeln!(f, "|")
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let widths = self.widths();
        let left = self.left_aligned(widths.len());
        writeln!(f, "{}", self.title)?;
        rule(f, &widths)?;
        cells(f, &widths, &left, &self.header)?;
        rule(f, &widths)?;
        for row in &self.rows {
            cells(f, &widths, &left, row)?;
        }
        rule(f, &widths)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_columns_to_the_widest_cell() {
        let mut table = Table::new("Balance", &["Split", "Same"]);
        table.row(vec!["train".into(), "757".into()]);
        table.row(vec!["validation".into(), "5".into()]);
        let expected = "Balance\n\
                        +------------+------+\n\
                        | Split      | Same |\n\
                        +------------+------+\n\
                        | train      |  757 |\n\
                        | validation |    5 |\n\
                        +------------+------+\n";
        assert_eq!(table.to_string(), expected);
    }

    #[test]
    fn text_columns_are_left_aligned() {
        let mut table = Table::new("", &["", "Letters", "Share"]);
        table.row(vec!["Same".into(), "A, B".into(), "31.18%".into()]);
        table.row(vec!["All".into(), String::new(), "-".into()]);
        let text = table.to_string();
        assert!(text.contains("| Same | A, B    | 31.18% |"), "{text}");
        assert!(text.contains("| All  |         |      - |"), "{text}");
    }

    #[test]
    fn ragged_rows_do_not_panic() {
        let mut table = Table::new("", &["a"]);
        table.row(vec![]).row(vec!["x".into(), "yy".into()]);
        assert!(table.to_string().contains("| x | yy |"));
    }
}
