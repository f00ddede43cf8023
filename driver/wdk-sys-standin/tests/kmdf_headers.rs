//! The stand-in against the real KMDF 1.33 headers.
//!
//! C assertions are generated from what this crate compiles ([`LAYOUTS`]: every size and offset)
//! and declares (`src/types.rs`: every structure field's type, every function-pointer type, every
//! enumeration value and function-table index), then compiled with mingw-w64's gcc against the
//! KMDF headers (and mingw's DDK headers for the WDM types). A difference fails the compile,
//! naming the item.
//!
//! The KMDF headers cannot be part of this repository (the framework's source is read, never
//! copied): point `KMDF_HEADERS` at `src/publicinc/wdf/kmdf/1.33` of a checkout of
//! microsoft/Windows-Driver-Frameworks — `cargo xtask standin-check --kmdf-headers DIR` does.
//! Without it, the test checks that every item of `types.rs` was understood and generated.
#![allow(clippy::disallowed_methods)] // a test, not the driver: driver/clippy.toml

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use wdk_sys_standin::layout::LAYOUTS;

const TYPES: &str = include_str!("../src/types.rs");

/// Items the C side does not have under these names: framework-private (`fxldr.h`), bindgen's
/// own names for anonymous members, or `static mut` globals.
fn skipped(name: &str) -> bool {
    name.contains("bindgen") || name.starts_with("WDF_VERSION") || name.starts_with("WDF_BIND_INFO")
}

/// A Rust type of `types.rs` as C.
fn c_type(rust: &str) -> Option<String> {
    let t = rust.trim();
    if let Some(rest) = t.strip_prefix("*mut ") {
        return Some(format!("{} *", c_type(rest)?));
    }
    if let Some(rest) = t.strip_prefix("*const ") {
        return Some(format!("const {} *", c_type(rest)?));
    }
    if let Some(inner) = t.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
        let (elem, n) = inner.split_once(';')?;
        return Some(format!(
            "{}[{}]",
            c_type(elem)?,
            n.trim().trim_end_matches("usize")
        ));
    }
    if t.contains("bindgen") {
        return None;
    }
    Some(match t {
        "usize" => "size_t".into(),
        "::core::ffi::c_int" => "int".into(),
        // A struct tag (bindgen keeps C's `_NAME` for the struct itself).
        s if s.starts_with('_') => format!("struct {s}"),
        s => s.into(),
    })
}

/// How `c` (after `prev`) changes the bracket depth (`->` is not a bracket).
fn nesting(prev: char, c: char) -> i32 {
    match c {
        '<' | '(' | '[' => 1,
        '>' if prev == '-' => 0,
        '>' | ')' | ']' => -1,
        _ => 0,
    }
}

/// `types.rs` with comments removed, as statements (split at top-level `;` and `{`/`}`).
fn statements() -> Vec<String> {
    let text: String = TYPES
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join(" ");
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0i32;
    let mut prev = ' ';
    for c in text.chars() {
        depth += nesting(prev, c);
        prev = c;
        if depth == 0 && matches!(c, ';' | '{' | '}') {
            cur.push(c);
            let mut stmt = std::mem::take(&mut cur)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            // Attributes are not the item.
            while stmt.starts_with("#[") {
                let end = stmt.find(']').map_or(stmt.len(), |i| i + 1);
                stmt = stmt[end..].trim_start().to_string();
            }
            out.push(stmt);
        } else {
            cur.push(c);
        }
    }
    out
}

/// `(name, parameter types, return type)` of a `pub type X = Option<unsafe extern "C" fn(..)..>;`.
fn function_type(stmt: &str) -> Option<(String, Vec<String>, String)> {
    let rest = stmt.strip_prefix("pub type ")?;
    let (name, def) = rest.split_once(" = ")?;
    let def = def.strip_prefix("::core::option::Option<")?;
    let def = def.trim().strip_prefix("unsafe extern \"C\" fn(")?;
    let mut depth = 0;
    let mut prev = ' ';
    let close = def.char_indices().find(|&(_, c)| {
        if c == ')' && depth == 0 {
            return true;
        }
        depth += nesting(prev, c);
        prev = c;
        false
    })?;
    let params = &def[..close.0];
    let after = &def[close.0 + 1..];
    let ret = after.split_once("->").map_or("void".to_string(), |(_, r)| {
        c_type(
            r.trim()
                .trim_end_matches(';')
                .trim_end_matches('>')
                .trim()
                .trim_end_matches(','),
        )
        .unwrap_or_default()
    });
    let params = params
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| c_type(p.split_once(':').map_or(p, |(_, t)| t)))
        .collect::<Option<Vec<_>>>()?;
    Some((name.trim().to_string(), params, ret))
}

struct Checks {
    c: String,
    layouts: usize,
    functions: usize,
    fields: usize,
    constants: usize,
}

fn generate() -> Checks {
    let mut c = String::from(
        "#include <stddef.h>\n#include <ntddk.h>\n#include <wdf.h>\n#define CHECK(e, what) _Static_assert(e, what)\n",
    );
    let (mut functions, mut fields, mut constants, mut layouts) = (0, 0, 0, 0);
    for l in LAYOUTS.iter().filter(|l| !skipped(l.name)) {
        layouts += 1;
        writeln!(c, "CHECK(sizeof({0}) == {1}, \"sizeof {0}\");", l.name, l.size).unwrap();
        for (f, off) in l.fields {
            writeln!(
                c,
                "CHECK(offsetof({0}, {f}) == {off}, \"offsetof {0}.{f}\");",
                l.name
            )
            .unwrap();
        }
    }
    let mut in_struct: Option<String> = None;
    let mut in_mod = false;
    for s in statements() {
        if let Some(name) = s.strip_prefix("pub struct ").and_then(|x| x.strip_suffix(" {")) {
            in_struct = Some(name.trim().to_string());
            continue;
        }
        if s.starts_with("pub mod ") && s.ends_with('{') {
            in_mod = true;
            continue;
        }
        if s == "}" {
            in_struct = None;
            in_mod = false;
            continue;
        }
        if let Some(st) = in_struct.take() {
            // The struct's body: its fields, up to the closing brace.
            continue_fields(&mut c, &st, &s, &mut fields);
            continue;
        }
        if in_mod {
            if let Some(rest) = s.strip_prefix("pub const ") {
                let (name, value) = rest.split_once(": Type = ").expect("an enum constant");
                let value = value.trim_end_matches(';');
                writeln!(c, "CHECK((int)({name}) == (int)({value}), \"{name}\");").unwrap();
                constants += 1;
            }
            continue;
        }
        if s.starts_with("pub type PFN_") && s.contains("extern \"C\" fn") {
            let (name, params, ret) = function_type(&s).unwrap_or_else(|| panic!("not understood: {s}"));
            writeln!(
                c,
                "typedef {ret} (*check_{name})({});\nCHECK(__builtin_types_compatible_p(check_{name}, {name}), \"{name}\");",
                if params.is_empty() { "void".to_string() } else { params.join(", ") }
            )
            .unwrap();
            functions += 1;
        }
    }
    Checks {
        c,
        layouts,
        functions,
        fields,
        constants,
    }
}

/// Field declarations of one struct body statement (`pub A: T, pub B: U, ... }` arrives as the
/// statement ending in `}`; fields before it are split at top-level commas).
fn continue_fields(c: &mut String, st: &str, stmt: &str, fields: &mut usize) {
    if skipped(st) || st.starts_with("WDF") && st.ends_with("__") {
        return;
    }
    let body = stmt.trim_end_matches('}');
    let mut depth = 0i32;
    let mut cur = String::new();
    let mut items = Vec::new();
    let mut prev = ' ';
    for ch in body.chars() {
        depth += nesting(prev, ch);
        prev = ch;
        if ch == ',' && depth == 0 {
            items.push(std::mem::take(&mut cur));
            continue;
        }
        cur.push(ch);
    }
    items.push(cur);
    for item in items.iter().map(|i| i.trim()).filter(|i| !i.is_empty()) {
        let Some(decl) = item.strip_prefix("pub ") else {
            continue;
        };
        let (field, ty) = decl.split_once(':').expect("a field");
        let Some(cty) = c_type(ty) else { continue };
        writeln!(
            c,
            "CHECK(__builtin_types_compatible_p(__typeof__(((struct {st} *)0)->{f}), {cty}), \"{st}.{f}\");",
            f = field.trim()
        )
        .unwrap();
        *fields += 1;
    }
}

/// The headers in a scratch directory: file names as the headers include them (the checkout's
/// are lower-case), and the one change GCC needs — `WdfDeviceConfigureRequestDispatching` takes
/// a `WDF_REQUEST_TYPE` declared later in the headers, which MSVC accepts and GCC does not.
fn prepare(headers: &Path, dir: &Path) -> PathBuf {
    let inc = dir.join("kmdf");
    let _ = std::fs::remove_dir_all(&inc);
    std::fs::create_dir_all(&inc).unwrap();
    for e in std::fs::read_dir(headers).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "h") {
            let mut text = std::fs::read_to_string(&p).unwrap();
            if p.file_name().is_some_and(|n| n == "wdfdevice.h") {
                text = text.replace("    WDF_REQUEST_TYPE RequestType\n", "    int RequestType\n");
            }
            std::fs::write(inc.join(p.file_name().unwrap()), &text).unwrap();
            for line in text.lines() {
                let Some(name) = line
                    .trim()
                    .strip_prefix("#include \"")
                    .and_then(|x| x.strip_suffix('"'))
                else {
                    continue;
                };
                let lower = inc.join(name.to_ascii_lowercase());
                let exact = inc.join(name);
                if !exact.exists() && name != name.to_ascii_lowercase() {
                    let _ = std::os::unix::fs::symlink(&lower, &exact);
                }
            }
        }
    }
    inc
}

#[test]
fn the_stand_in_matches_the_kmdf_headers() {
    let checks = generate();
    // Every function type and table index of types.rs was understood (23 functions the front end
    // calls, 17 callback types), every field of the WDF structures, every enum value.
    assert_eq!(checks.functions, 23 + 17, "function types generated");
    assert!(checks.fields >= 50, "field types generated: {}", checks.fields);
    assert!(
        checks.constants >= 45,
        "constants generated: {}",
        checks.constants
    );
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let c_file = dir.join("standin_vs_kmdf.c");
    std::fs::write(&c_file, &checks.c).unwrap();
    let Some(headers) = std::env::var_os("KMDF_HEADERS") else {
        eprintln!(
            "KMDF_HEADERS not set: generated {} but not compiled (cargo xtask standin-check)",
            c_file.display()
        );
        return;
    };
    let inc = prepare(Path::new(&headers), &dir);
    let out = Command::new("x86_64-w64-mingw32-gcc")
        .args([
            "-fsyntax-only",
            "-Wno-pragmas",
            "-I",
            "/usr/x86_64-w64-mingw32/include/ddk",
            "-I",
        ])
        .arg(&inc)
        .arg(&c_file)
        .output()
        .expect("x86_64-w64-mingw32-gcc (Debian gcc-mingw-w64-x86-64)");
    assert!(
        out.status.success(),
        "the stand-in differs from the KMDF headers:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "stand-in == KMDF 1.33 headers: {} layouts, {} field types, {} function types, {} constants",
        checks.layouts, checks.fields, checks.functions, checks.constants
    );
}
