//! Scanning tests on tiny trees of empty files (the scan never reads pixels).

use std::fs;
use std::path::Path;

use tempfile::TempDir;

use super::*;

/// Creates empty files (and their folders) under `root`.
fn touch(root: &Path, files: &[&str]) {
    for file in files {
        let path = root.join(file);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create test folder");
        }
        fs::write(&path, b"").expect("create test file");
    }
}

/// The keys of a dataset, as `Name_NNNN` strings.
fn keys(dataset: &Dataset) -> Vec<String> {
    dataset.images.iter().map(|e| e.key.to_string()).collect()
}

const NESTED: [&str; 4] = [
    "Abdel_Nasser_Assidi/Abdel_Nasser_Assidi_0002.jpg",
    "Abdel_Nasser_Assidi/Abdel_Nasser_Assidi_0001.jpg",
    "Jean-Pierre_Raffarin/Jean-Pierre_Raffarin_0004.jpg",
    "AJ_Cook/AJ_Cook_0001.jpg",
];

const NESTED_KEYS: [&str; 4] = [
    "AJ_Cook_0001",
    "Abdel_Nasser_Assidi_0001",
    "Abdel_Nasser_Assidi_0002",
    "Jean-Pierre_Raffarin_0004",
];

#[test]
fn nested_layout_in_every_wrapping() {
    for prefix in ["", "lfw2/", "lfw2/lfw2/"] {
        let dir = TempDir::new().expect("temp dir");
        let files: Vec<String> = NESTED.iter().map(|f| format!("{prefix}{f}")).collect();
        let files: Vec<&str> = files.iter().map(String::as_str).collect();
        touch(dir.path(), &files);
        touch(dir.path(), &["pairsDevTrain.txt"]);
        let dataset = Dataset::scan(dir.path()).expect("scan");
        assert_eq!(dataset.layout, Layout::Nested, "prefix {prefix:?}");
        assert_eq!(keys(&dataset), NESTED_KEYS, "prefix {prefix:?}");
        assert_eq!(dataset.root, dir.path().join(prefix.trim_end_matches('/')));
    }
}

#[test]
fn nested_skips_and_lists_misfiled_and_stray_files() {
    let dir = TempDir::new().expect("temp dir");
    touch(dir.path(), &NESTED);
    touch(
        dir.path(),
        &[
            "AJ_Cook/Marsha_Thomason_0001.jpg",
            "AJ_Cook/Thumbs.db",
            "AJ_Cook/extra/AJ_Cook_0002.jpg",
            "README.txt",
        ],
    );
    let dataset = Dataset::scan(dir.path()).expect("scan");
    assert_eq!(keys(&dataset), NESTED_KEYS);
    let skipped: Vec<&Path> = dataset.skipped.iter().map(PathBuf::as_path).collect();
    let root = dir.path();
    assert_eq!(
        skipped,
        [
            root.join("AJ_Cook/Marsha_Thomason_0001.jpg").as_path(),
            &root.join("AJ_Cook/Thumbs.db"),
            &root.join("AJ_Cook/extra"),
            &root.join("README.txt"),
        ]
    );
}

#[test]
fn flat_layout_directly_and_in_split_folders() {
    let direct = TempDir::new().expect("temp dir");
    touch(
        direct.path(),
        &["AJ_Cook_0001.jpg", "Zhu_Rongji_0002.jpg", "notes.md"],
    );
    let dataset = Dataset::scan(direct.path()).expect("scan");
    assert_eq!(dataset.layout, Layout::Flat);
    assert_eq!(keys(&dataset), ["AJ_Cook_0001", "Zhu_Rongji_0002"]);
    assert_eq!(dataset.skipped, [direct.path().join("notes.md")]);

    let split = TempDir::new().expect("temp dir");
    touch(
        split.path(),
        &[
            "train/AJ_Cook_0001.jpg",
            "test/Zhu_Rongji_0002.jpg",
            "unused/Aaron_Pena_0001.jpg",
        ],
    );
    let dataset = Dataset::scan(split.path()).expect("scan");
    assert_eq!(dataset.layout, Layout::Flat);
    assert_eq!(
        keys(&dataset),
        ["AJ_Cook_0001", "Aaron_Pena_0001", "Zhu_Rongji_0002"]
    );
}

#[test]
fn duplicate_across_flat_folders_is_an_error() {
    let dir = TempDir::new().expect("temp dir");
    touch(
        dir.path(),
        &["train/AJ_Cook_0001.jpg", "unused/AJ_Cook_0001.jpg"],
    );
    let err = Dataset::scan(dir.path()).expect_err("duplicate");
    assert!(matches!(err, DataError::DuplicateImage { .. }), "{err}");
    assert!(err.to_string().contains("AJ_Cook_0001"), "{err}");
}

#[test]
fn missing_empty_and_file_roots_name_the_path() {
    let dir = TempDir::new().expect("temp dir");
    let missing = dir.path().join("nowhere");
    let err = Dataset::scan(&missing).expect_err("missing");
    assert!(matches!(err, DataError::RootUnreadable { .. }));
    assert!(err.to_string().contains("nowhere"), "{err}");

    let err = Dataset::scan(dir.path()).expect_err("empty");
    assert!(matches!(err, DataError::NoImages { .. }));
    assert!(
        err.to_string().contains(&*dir.path().to_string_lossy()),
        "{err}"
    );

    touch(dir.path(), &["file.txt"]);
    let err = Dataset::scan(&dir.path().join("file.txt")).expect_err("a file");
    assert!(matches!(err, DataError::NotADirectory { .. }), "{err}");
}

#[test]
fn lookups_by_key_and_identity() {
    let dir = TempDir::new().expect("temp dir");
    touch(dir.path(), &NESTED);
    let dataset = Dataset::scan(dir.path()).expect("scan");
    assert_eq!(dataset.len(), 4);
    assert!(dataset.get(&ImageKey::new("AJ_Cook", 1)).is_some());
    assert!(dataset.get(&ImageKey::new("AJ_Cook", 2)).is_none());
    assert_eq!(dataset.identity("Abdel_Nasser_Assidi").len(), 2);
    assert!(dataset.identity("Abdel").is_empty());
    assert!(dataset.identity("Zed").is_empty());
    assert_eq!(
        dataset.names(),
        ["AJ_Cook", "Abdel_Nasser_Assidi", "Jean-Pierre_Raffarin"]
    );
    let identities = dataset.identities();
    assert_eq!(identities.len(), 3);
    assert_eq!(identities["Abdel_Nasser_Assidi"].len(), 2);
}

#[test]
fn check_pairs_lists_every_missing_image() {
    let dir = TempDir::new().expect("temp dir");
    touch(dir.path(), &NESTED);
    let dataset = Dataset::scan(dir.path()).expect("scan");
    let text = "2\nAJ_Cook\t1\t2\nAbdel_Nasser_Assidi\t1\t2\n\
                AJ_Cook\t1\tNobody_Here\t1\nAJ_Cook\t9\tJean-Pierre_Raffarin\t4\n";
    let source = Path::new("pairs.txt");
    let pairs = crate::data::parse_pairs(text, source).expect("parse");
    let err = dataset.check_pairs(&pairs, source).expect_err("missing");
    let DataError::MissingImages { missing, .. } = &err else {
        panic!("unexpected error {err}");
    };
    let found: Vec<(usize, String)> = missing
        .iter()
        .map(|m| (m.line, m.key.to_string()))
        .collect();
    assert_eq!(
        found,
        [
            (2, "AJ_Cook_0002".to_string()),
            (4, "Nobody_Here_0001".to_string()),
            (5, "AJ_Cook_0009".to_string()),
        ]
    );
    assert!(
        err.to_string().contains("pairs.txt:4: Nobody_Here_0001"),
        "{err}"
    );
    dataset.check_pairs(&pairs[1..2], source).expect("present");
}
