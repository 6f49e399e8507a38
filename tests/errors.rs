//! Errors on the command line: each names what failed, and each cause is printed once.

use crate::util::twinflow;

/// The OS's own text for a missing file, as `std::io::Error` prints it on this platform.
fn not_found_text() -> String {
    let err = std::fs::read("/nonexistent/twinflow/missing").expect_err("missing");
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    err.to_string()
}

/// Runs `twinflow args` in a fresh folder; it must fail. Returns its stderr.
fn failing(args: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = twinflow(dir.path(), args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{args:?} succeeded: {stderr}");
    stderr
}

#[test]
fn a_missing_pipeline_file_is_named_and_its_os_error_printed_once() {
    let os = not_found_text();
    let stderr = failing(&["run", "missing.ron"]);
    assert!(stderr.contains("missing.ron"), "{stderr}");
    assert_eq!(stderr.matches(&os).count(), 1, "{stderr}");
}

#[test]
fn a_missing_run_folder_is_named_and_its_os_error_printed_once() {
    let os = not_found_text();
    let stderr = failing(&["eval", "--run", "nonexistent-dir", "--pairs", "x"]);
    assert!(stderr.contains("nonexistent-dir"), "{stderr}");
    assert_eq!(stderr.matches(&os).count(), 1, "{stderr}");
}

#[test]
fn validate_prints_the_cause_of_an_unreadable_file_once() {
    let os = not_found_text();
    let dir = tempfile::tempdir().expect("temp dir");
    let out = twinflow(dir.path(), &["validate", "missing.ron"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("missing.ron"), "{stdout}");
    assert_eq!(stdout.matches(&os).count(), 1, "{stdout}");
}

/// `validate` on a pipeline text; it must fail. Returns its stdout.
fn refused(ron: &str) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("p.ron"), ron).expect("write");
    let out = twinflow(dir.path(), &["validate", "p.ron"]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!out.status.success(), "{ron} passed: {stdout}");
    stdout
}

#[test]
fn validate_refuses_absurd_sizes_and_what_cannot_fit_naming_the_field() {
    let seed = "Pipeline(stages: [Decode(()), Resize(()), PairBatch(()), Train(())])";
    let cases = [
        (
            "Decode(())",
            "Decode((capacity: 100000000000))",
            "stages[0].capacity: must be in 1..=1024",
        ),
        (
            "PairBatch(())",
            "PairBatch((batch_size: 2000000000))",
            "stages[2].batch_size: must be in 1..=65536",
        ),
        (
            "Pipeline(",
            "Pipeline(model: (dense: (units: 100000000)), ",
            "model.dense.units: must be in 1..=65536",
        ),
        (
            "Pipeline(",
            "Pipeline(model: (conv: [(filters: 100000, kernel: 3)]), ",
            "model.conv[0].filters: must be in 1..=4096",
        ),
    ];
    for (from, to, want) in cases {
        let out = refused(&seed.replace(from, to));
        assert!(out.contains(want), "{to}: {out}");
    }
    // Within every bound, but 1,025 batches of 65,536 pairs of 125x125 images: terabytes.
    let huge = seed.replace(
        "PairBatch(())",
        "PairBatch((batch_size: 65536, capacity: 1024))",
    );
    let out = refused(&huge);
    assert!(
        out.contains("stages[2].capacity: the pipeline needs about")
            && out.contains("TiB of memory, more than this machine's"),
        "{out}"
    );
}
