//! Generates the C header `abi/include/wsksock.h` from the Rust definitions and fails when the
//! committed header is stale. `WSKSOCK_BLESS=1 cargo test -p wsksock-abi --test header` rewrites
//! it.
//!
//! cbindgen emits the structs, enums and literal constants; values Rust computes (control codes,
//! the NTSTATUS table, offsets) are appended as `#define`s from the same definitions. A C
//! compiler, when present, checks that every struct has the size Rust gives it.

use std::fmt::Write as _;
use std::path::PathBuf;
use wsksock_abi::msg::*;
use wsksock_abi::{Handle, NtStatus, Op, SockAddr};

/// Rust name → C name: `CloseRequest` → `WSKSOCK_CLOSE_REQUEST`.
fn c_name(rust: &str) -> String {
    let mut out = String::from("WSKSOCK_");
    for (i, ch) in rust.chars().enumerate() {
        if ch.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(ch.to_ascii_uppercase());
    }
    out
}

/// Every type in the header, with its Rust size: the building blocks, then every message.
fn types() -> Vec<(&'static str, usize)> {
    let mut t = vec![
        ("Header", std::mem::size_of::<Header>()),
        ("Handle", std::mem::size_of::<Handle>()),
        ("SockAddr", std::mem::size_of::<SockAddr>()),
    ];
    t.extend_from_slice(MESSAGES);
    t
}

const ENUMS: [&str; 7] = [
    "SocketKind",
    "CloseMode",
    "ShutdownHow",
    "SocketOption",
    "AddressWhich",
    "Disconnect",
    "PeerClose",
];
const CONSTS: [&str; 16] = [
    "AF_UNSPEC",
    "AF_INET",
    "AF_INET6",
    "ABI_VERSION",
    "ABI_VERSION_MIN",
    "CLOSE_FLAG_WAIT_FOR_TEARDOWN",
    "DATA_FLAG_WAITALL",
    "DATA_FLAG_NODELAY",
    "TIMEOUT_DEFAULT",
    "TIMEOUT_INFINITE",
    "TIMEOUT_MAX_MS",
    "KEEPALIVE_MAX_SECONDS",
    "KEEPALIVE_MAX_PROBES",
    "RESOLVE_MAX_ADDRS",
    "MAX_DUPLICATE_ALLOWANCES",
    "WSKSOCK_DEVICE_TYPE",
];

fn trailer() -> String {
    let mut t = String::from(
        "\n/* Control codes: CTL_CODE(WSKSOCK_DEVICE_TYPE, function, method, access); access: FILE_ANY_ACCESS (0),\n * FILE_READ_ACCESS (1: the handle needs FILE_READ_DATA), FILE_WRITE_ACCESS (2: FILE_WRITE_DATA). */\n",
    );
    for op in Op::ALL {
        let name = c_name(op.c_name()).replacen("WSKSOCK_", "WSKSOCK_IOCTL_", 1);
        writeln!(t, "#define {name} 0x{:08X}u", op.code()).unwrap();
    }
    writeln!(
        t,
        "\n/* Structs whose ABI version 1 form is shorter (a prefix; 0: not in version 1, see the\n * struct for the version that added it). */"
    )
    .unwrap();
    for (name, v1) in V1_SIZES {
        let size = MESSAGES.iter().find(|(n, _)| n == name).map(|(_, s)| *s);
        if size != Some(*v1 as usize) {
            writeln!(t, "#define {}_SIZE_V1 {v1}", c_name(name)).unwrap();
        }
    }
    writeln!(t, "\n/* Payload offset in the RECEIVE_FROM output buffer. */").unwrap();
    writeln!(
        t,
        "#define WSKSOCK_RECEIVE_FROM_DATA_OFFSET {RECEIVE_FROM_DATA_OFFSET}"
    )
    .unwrap();
    writeln!(t, "\n/* Device names. */").unwrap();
    writeln!(t, "#define WSKSOCK_DEVICE_NAME L\"\\\\Device\\\\WskSock\"").unwrap();
    writeln!(t, "#define WSKSOCK_USER_PATH \"\\\\\\\\.\\\\WskSock\"").unwrap();
    writeln!(
        t,
        "\n/* NTSTATUS values the driver returns (as in ntstatus.h). */"
    )
    .unwrap();
    for (name, st) in NtStatus::ALL {
        writeln!(
            t,
            "#ifndef {name}\n#define {name} ((int32_t)0x{:08X}u)\n#endif",
            st.0
        )
        .unwrap();
    }
    t
}

fn generate() -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut config = cbindgen::Config {
        language: cbindgen::Language::C,
        include_guard: Some("WSKSOCK_H".into()),
        autogen_warning: Some(
            "/* Generated from the wsksock-abi crate by abi/tests/header.rs: do not edit.\n * Regenerate: WSKSOCK_BLESS=1 cargo test -p wsksock-abi --test header */"
                .into(),
        ),
        sys_includes: vec!["stdint.h".into()],
        no_includes: true,
        documentation_style: cbindgen::DocumentationStyle::C,
        trailer: Some(trailer()),
        ..cbindgen::Config::default()
    };
    config.enumeration.prefix_with_name = true;
    config.enumeration.rename_variants = cbindgen::RenameRule::ScreamingSnakeCase;
    for (rust, _) in types() {
        config.export.include.push(rust.into());
        config.export.rename.insert(rust.into(), c_name(rust));
    }
    for e in ENUMS {
        config.export.include.push(e.into());
        config.export.rename.insert(e.into(), c_name(e));
    }
    for k in CONSTS {
        let c = if k.starts_with("WSKSOCK_") {
            k.to_string()
        } else {
            format!("WSKSOCK_{k}")
        };
        config.export.rename.insert(k.into(), c);
    }
    config.export.exclude = [
        "METHOD_BUFFERED",
        "METHOD_IN_DIRECT",
        "METHOD_OUT_DIRECT",
        "METHOD_NEITHER",
        "FILE_ANY_ACCESS",
        "FILE_READ_ACCESS",
        "FILE_WRITE_ACCESS",
    ]
    .iter()
    .map(|s| (*s).to_string())
    .collect();
    let bindings = cbindgen::Builder::new()
        .with_crate(root)
        .with_config(config)
        .generate()
        .expect("cbindgen");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("utf-8")
}

fn header_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("include/wsksock.h")
}

#[test]
fn committed_header_is_current() {
    let fresh = generate();
    if std::env::var_os("WSKSOCK_BLESS").is_some() {
        std::fs::write(header_path(), &fresh).unwrap();
    }
    let committed = std::fs::read_to_string(header_path()).unwrap_or_default();
    assert!(
        committed == fresh,
        "abi/include/wsksock.h is stale: run `WSKSOCK_BLESS=1 cargo test -p wsksock-abi --test header`"
    );
}

#[test]
fn header_has_every_type_code_and_status() {
    let h = generate();
    for (rust, _) in types() {
        assert!(
            h.contains(&format!("}} {};", c_name(rust))),
            "missing struct {rust}"
        );
    }
    for op in Op::ALL {
        assert!(
            h.contains(&format!("0x{:08X}u", op.code())),
            "missing code of {op:?}"
        );
    }
    for (name, _) in NtStatus::ALL {
        assert!(h.contains(&format!("#define {name} ")), "missing {name}");
    }
}

#[test]
fn c_compiler_agrees_on_every_size() {
    let Some(cc) = which_cc() else {
        eprintln!("no C compiler: size check skipped");
        return;
    };
    let mut c = String::from("#include \"wsksock.h\"\n");
    for (rust, size) in types() {
        writeln!(
            c,
            "_Static_assert(sizeof({}) == {size}, \"{rust}\");",
            c_name(rust)
        )
        .unwrap();
    }
    let dir = std::env::temp_dir().join(format!("wsksock-h-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("check.c");
    std::fs::write(&file, c).unwrap();
    // Check the freshly generated header, not the committed one (that is the other test's job).
    std::fs::write(dir.join("wsksock.h"), generate()).unwrap();
    let out = std::process::Command::new(cc)
        .args(["-std=c11", "-Wall", "-Werror", "-fsyntax-only", "-I"])
        .arg(&dir)
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn which_cc() -> Option<&'static str> {
    ["cc", "gcc", "clang"].into_iter().find(|cc| {
        std::process::Command::new(cc)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}
