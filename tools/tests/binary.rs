//! The `wsksock` binary itself (having this test also makes `cargo test --workspace` build the
//! binary before any test runs, which the end-to-end CLI suite in `tests/` spawns).

use std::process::Command;

fn wsksock(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_wsksock"))
        .args(args)
        .output()
        .expect("run wsksock")
}

#[test]
fn help_lists_every_subcommand() {
    let out = wsksock(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for sub in ["demo", "send", "close-race", "bench"] {
        assert!(text.contains(sub), "--help does not list {sub}:\n{text}");
    }
}

#[test]
fn unknown_subcommand_is_one_line_and_exit_2() {
    let out = wsksock(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: "), "{err}");
}
