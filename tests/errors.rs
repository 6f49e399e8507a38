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
