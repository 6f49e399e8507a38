//! Text rendering of [`DatasetStats`]: one aligned table per question the seed study asks.
//!
//! The seed study is the TensorFlow/Keras report this project rebuilds; tables it printed
//! are named by what they hold, with the seed's own table number in brackets so the two
//! can be set side by side.

use super::table::Table;
use super::{DatasetStats, LetterHistogram, SplitSummary, BUCKET_LIMITS};
use crate::data::validation::{letters_label, PairCounts};
use crate::data::{Layout, ValidationSplit};

/// Says once what "the seed study" in the table titles is.
pub const SEED_NOTE: &str = "\"Seed study\" below is the TensorFlow/Keras report this \
     project rebuilds; \"[seed Table N]\" marks a table it printed.";

/// Renders every table, separated by blank lines.
pub fn render(stats: &DatasetStats) -> String {
    let layout = match stats.layout {
        Layout::Nested => "nested",
        Layout::Flat => "flat",
    };
    let all = stats.splits.iter().find(|s| s.name == "all");
    let (images, identities) = all.map_or((0, 0), |s| (s.images, s.identities));
    let mut out = format!(
        "Dataset {} ({layout} layout): {images} images of {identities} identities, \
         {} files skipped\n{SEED_NOTE}\n",
        stats.root.display(),
        stats.skipped
    );
    let tables = [
        split_table(&stats.splits),
        images_per_identity(&stats.splits),
        balance_table(stats),
        letters_table("A-M", &stats.letters, 0..13),
        letters_table("N-Z", &stats.letters, 13..26),
        chosen_table(stats),
        disjoint_table(stats),
    ];
    for table in tables {
        out.push('\n');
        out.push_str(&table.to_string());
    }
    out
}

/// `part` of `whole` as a percentage with two decimals, or `-` when `whole` is 0.
fn percent(part: usize, whole: usize) -> String {
    if whole == 0 {
        "-".to_string()
    } else {
        format!("{:.2}%", part as f64 * 100.0 / whole as f64)
    }
}

fn split_table(splits: &[SplitSummary]) -> Table {
    let all_images = splits
        .iter()
        .find(|s| s.name == "all")
        .map_or(0, |s| s.images);
    let mut table = Table::new(
        "Identities and images per split",
        &["Split", "Identities", "Images", "% of images"],
    );
    for s in splits {
        table.row(vec![
            s.name.clone(),
            s.identities.to_string(),
            s.images.to_string(),
            percent(s.images, all_images),
        ]);
    }
    table
}

fn images_per_identity(splits: &[SplitSummary]) -> Table {
    let mut labels = vec!["Split".to_string()];
    let mut low = 1;
    for limit in BUCKET_LIMITS {
        labels.push(if low == limit {
            format!("{limit}")
        } else {
            format!("{low}-{limit}")
        });
        low = limit + 1;
    }
    labels.push(format!("{low}+"));
    labels.extend(["min", "median", "mean", "max"].map(String::from));
    let header: Vec<&str> = labels.iter().map(String::as_str).collect();
    let mut table = Table::new("Identities by number of images", &header);
    for s in splits {
        let mut row = vec![s.name.clone()];
        row.extend(s.buckets.iter().map(usize::to_string));
        row.push(s.min.to_string());
        row.push(format!("{:.1}", s.median));
        row.push(format!("{:.2}", s.mean));
        row.push(s.max.to_string());
        table.row(row);
    }
    table
}

fn balance_table(stats: &DatasetStats) -> Table {
    let title = format!("Class balance (validation rule: {})", stats.rule.describe());
    let mut table = Table::new(title, &["Pairs", "Same", "Different", "Total", "Same %"]);
    for (name, counts) in &stats.balance {
        table.row(vec![
            name.clone(),
            counts.same.to_string(),
            counts.different.to_string(),
            counts.total().to_string(),
            percent(counts.same, counts.total()),
        ]);
    }
    table
}

fn letters_table(part: &str, letters: &LetterHistogram, range: std::ops::Range<usize>) -> Table {
    let title = format!("Train pairs by first letter of the (first) name, {part} [seed Table 1]");
    let mut labels = vec![String::new()];
    labels.extend(
        range
            .clone()
            .map(|i| char::from(b'A' + i as u8).to_string()),
    );
    // LFW names all start with A-Z; show the extra column only when something does not.
    let other = range.end == 26 && letters.other != (0, 0);
    if other {
        labels.push("other".to_string());
    }
    let header: Vec<&str> = labels.iter().map(String::as_str).collect();
    let mut table = Table::new(title, &header);
    for (name, counts, extra) in [
        ("Same", &letters.same, letters.other.0),
        ("Different", &letters.different, letters.other.1),
    ] {
        let mut row = vec![name.to_string()];
        row.extend(counts[range.clone()].iter().map(usize::to_string));
        if other {
            row.push(extra.to_string());
        }
        table.row(row);
    }
    table
}

fn chosen_table(stats: &DatasetStats) -> Table {
    let (same_rule, different_rule) = match &stats.rule {
        ValidationSplit::FirstLetter { same, different } => {
            (letters_label(same), letters_label(different))
        }
        ratio => (ratio.describe(), ratio.describe()),
    };
    let mut table = Table::new(
        "Validation pairs the split rule picks, before keeping identities apart [seed Table 2]",
        &["", "Total Size", "Chosen", "Chosen Size", "Percentage"],
    );
    let (total, raw) = (stats.chosen.total, stats.chosen.raw_validation);
    for (name, rule, total, chosen) in [
        ("Same", same_rule, total.same, raw.same),
        ("Different", different_rule, total.different, raw.different),
        ("All", String::new(), total.total(), raw.total()),
    ] {
        table.row(vec![
            name.to_string(),
            total.to_string(),
            rule,
            chosen.to_string(),
            percent(chosen, total),
        ]);
    }
    table
}

fn disjoint_table(stats: &DatasetStats) -> Table {
    let c = &stats.chosen;
    let title = format!(
        "Identity-disjoint train/validation split ({} train, {} validation identities; \
         seed Table 2 without shared people)",
        c.train_identities, c.validation_identities
    );
    let mut table = Table::new(
        title,
        &[
            "",
            "Train",
            "Validation",
            "Dropped",
            "Train %",
            "Validation %",
            "Dropped %",
        ],
    );
    let pick = |counts: PairCounts, kind: usize| match kind {
        0 => counts.same,
        1 => counts.different,
        _ => counts.total(),
    };
    for (kind, name) in ["Same", "Different", "All"].into_iter().enumerate() {
        let (train, validation, dropped) = (
            pick(c.train, kind),
            pick(c.validation, kind),
            pick(c.dropped, kind),
        );
        let total = pick(c.total, kind);
        table.row(vec![
            name.to_string(),
            train.to_string(),
            validation.to_string(),
            dropped.to_string(),
            percent(train, total),
            percent(validation, total),
            percent(dropped, total),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::data::stats::ChosenTable;

    #[test]
    fn renders_the_seed_table_two_numbers() {
        let counts = |same, different| PairCounts { same, different };
        let stats = DatasetStats {
            root: PathBuf::from("/data/lfw2"),
            layout: Layout::Nested,
            skipped: 0,
            rule: ValidationSplit::default(),
            balance: vec![("train pairs file".into(), counts(1100, 1100))],
            letters: LetterHistogram::default(),
            chosen: ChosenTable {
                total: counts(1100, 1100),
                raw_validation: counts(343, 379),
                ..ChosenTable::default()
            },
            splits: Vec::new(),
        };
        let text = render(&stats);
        // The seed's Table 2 rows, as numbers and percentages.
        assert!(
            text.contains("| Same      |       1100 | A, B, C, D, E |         343 |     31.18% |"),
            "{text}"
        );
        assert!(text.contains("34.45%"), "{text}");
        assert!(text.contains("32.82%"), "{text}");
        assert!(
            text.contains("| train pairs file | 1100 |      1100 |  2200 | 50.00% |"),
            "{text}"
        );
        assert!(!text.contains("other"), "{text}");
        // Titles say what a table holds, and what "seed" means is said once.
        assert!(!text.contains("Table 2b"), "{text}");
        assert!(text.contains("Validation pairs the split rule picks, before keeping identities apart [seed Table 2]"), "{text}");
        assert!(
            text.contains("TensorFlow/Keras report this project rebuilds"),
            "{text}"
        );
    }

    #[test]
    fn percent_of_nothing_is_a_dash() {
        assert_eq!(percent(3, 0), "-");
        assert_eq!(percent(1, 3), "33.33%");
    }
}
