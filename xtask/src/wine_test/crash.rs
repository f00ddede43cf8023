//! Telling from the drivers' log (`boot.log`) that a winedevice.exe ended under them: a page
//! fault Wine did not handle, or a bug check (Wine's `KeBugCheckEx` ends the process; the WDF
//! double calls it where the framework would bug-check) — and whether a page fault lies in Wine's
//! own netio.sys, the known Wine 8 race of docs/WINE.md ("Other Wine behaviour").
//!
//! A crash in netio.sys is Wine's, but the suite only excuses it where it can show that nothing
//! of ours was lost: the build runs once more (`run_build`), or — in the `alloc-faults` sweep,
//! where every run has its own winedevice.exe — the runs it hit run again and must pass; the
//! sweep then tells the suite how many such lines to pass over ([`first`]'s `excused`).

/// Where Wine 8 keeps its netio.sys.
const NETIO: &str = "/usr/lib/x86_64-linux-gnu/wine/x86_64-windows/netio.sys";

/// The markers of a crash line.
const MARKERS: [&str; 2] = ["Unhandled ", ":KeBugCheckEx "];

/// Whether `line` says a winedevice.exe ended.
pub fn is_crash(line: &str) -> bool {
    MARKERS.iter().any(|m| line.contains(m))
}

/// The first crash in `log` after passing over the first `excused` netio.sys crashes, with the
/// lines from there on.
pub fn first(log: &str, excused: usize) -> Option<String> {
    let mut passed = 0;
    let mut offset = 0;
    for line in log.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        if !is_crash(line) {
            continue;
        }
        if passed < excused && netio(line).is_some() {
            passed += 1;
            continue;
        }
        return Some(log[start..].lines().take(12).collect::<Vec<_>>().join("\n    "));
    }
    None
}

/// The address of the first crash in `log`, if it is in Wine's netio.sys.
pub fn netio_in(log: &str) -> Option<String> {
    log.lines()
        .find(|l| l.contains("Unhandled page fault"))
        .and_then(netio)
}

/// `netio.sys+OFFSET` if `line` is an unhandled page fault at an address in Wine's netio.sys.
pub fn netio(line: &str) -> Option<String> {
    if !line.contains("Unhandled page fault") {
        return None;
    }
    let addr = line.split("at address ").nth(1)?.split_whitespace().next()?;
    let addr = u64::from_str_radix(addr, 16).ok()?;
    let image = std::fs::read(NETIO).ok()?;
    let (base, size) = image_range(&image)?;
    (base..base + size)
        .contains(&addr)
        .then(|| format!("netio.sys+{:#x}", addr - base))
}

/// `ImageBase` and `SizeOfImage` of a PE32+ image.
fn image_range(pe: &[u8]) -> Option<(u64, u64)> {
    let u32_at = |o: usize| {
        pe.get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let opt = usize::try_from(u32_at(0x3c)?).ok()? + 24;
    if pe.get(opt..opt + 2)? != [0x0b, 0x02] {
        return None;
    }
    let base = u64::from_le_bytes(pe.get(opt + 24..opt + 32)?.try_into().ok()?);
    Some((base, u64::from(u32_at(opt + 56)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_fault_or_a_bug_check_ends_the_run() {
        assert!(first("0100:warn:debugstr:x: wsksock: loaded\n", 0).is_none());
        let bugcheck = "a: WDF VERIFIER: x: NULL handle (bug check 0x10D)\n01a0:err:ntoskrnl:KeBugCheckEx 10d 0 0 0 0\nnext\n";
        assert_eq!(
            first(bugcheck, 0).unwrap(),
            "01a0:err:ntoskrnl:KeBugCheckEx 10d 0 0 0 0\n    next"
        );
        // Nothing excuses a bug check.
        assert!(first(bugcheck, 5).is_some());
        let fault =
            "x\nwine: Unhandled page fault on read access to 0000000000000000 at address 0000000140001000\n";
        assert!(first(fault, 0).unwrap().starts_with("wine: Unhandled page fault"));
        assert!(first(fault, 1).is_some(), "not in netio.sys: never excused");
    }

    #[test]
    fn a_crash_in_wines_netio_is_recognized_and_may_be_excused() {
        let Some((base, size)) = std::fs::read(NETIO).ok().and_then(|b| image_range(&b)) else {
            return; // no Wine here
        };
        assert!(size > 0x1000);
        let line = |a: u64| {
            format!("wine: Unhandled page fault on write access to 0000000000000038 at address {a:016X} (thread 0034), starting debugger...")
        };
        let ours = line(0x1_4000_1000);
        let wines = line(base + 0x436e);
        assert_eq!(netio(&wines), Some("netio.sys+0x436e".into()));
        assert_eq!(netio(&ours), None);
        assert_eq!(netio("all fine"), None);
        assert!(image_range(b"MZ").is_none());
        let log = format!("a\n{wines}\nb\n{wines}\nc\n");
        assert_eq!(netio_in(&log), Some("netio.sys+0x436e".into()));
        assert!(
            first(&log, 1).unwrap().starts_with(&wines),
            "one excused, one left"
        );
        assert!(first(&log, 2).is_none());
        let log = format!("{wines}\n{ours}\n");
        assert!(first(&log, 2).unwrap().starts_with(&ours));
    }
}
