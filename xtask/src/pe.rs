//! A small PE32+ reader for the driver checks: subsystem, imports, exports. Bounds-checked;
//! any malformed field is an error, never a panic.

use std::collections::BTreeMap;

/// What the checks need from an image.
#[derive(Debug, Default)]
pub struct Image {
    /// `IMAGE_OPTIONAL_HEADER64.Subsystem`.
    pub subsystem: u16,
    /// `AddressOfEntryPoint`.
    pub entry_rva: u32,
    /// Imports: DLL name → imported function names (ordinals as `#n`).
    pub imports: BTreeMap<String, Vec<String>>,
    /// Exported function names.
    pub exports: Vec<String>,
    /// Exported function name → its RVA.
    pub export_rvas: BTreeMap<String, u32>,
}

/// `IMAGE_SUBSYSTEM_NATIVE`.
pub const SUBSYSTEM_NATIVE: u16 = 1;

struct Sections(Vec<(u32, u32, u32, u32)>); // (va, vsize, raw_ptr, raw_size)

fn u16_at(b: &[u8], off: usize) -> Result<u16, String> {
    b.get(off..off + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .ok_or_else(|| format!("truncated at {off:#x}"))
}

fn u32_at(b: &[u8], off: usize) -> Result<u32, String> {
    b.get(off..off + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| format!("truncated at {off:#x}"))
}

fn u64_at(b: &[u8], off: usize) -> Result<u64, String> {
    let lo = u64::from(u32_at(b, off)?);
    let hi = u64::from(u32_at(b, off + 4)?);
    Ok(lo | (hi << 32))
}

impl Sections {
    fn offset(&self, rva: u32) -> Result<usize, String> {
        for &(va, vsize, raw, raw_size) in &self.0 {
            let size = vsize.max(raw_size);
            if rva >= va && rva - va < size {
                let delta = rva - va;
                if delta >= raw_size {
                    return Err(format!("rva {rva:#x} is in uninitialized data"));
                }
                return Ok((raw + delta) as usize);
            }
        }
        Err(format!("rva {rva:#x} is in no section"))
    }
}

fn c_string(b: &[u8], off: usize) -> Result<String, String> {
    let rest = b
        .get(off..)
        .ok_or_else(|| format!("string at {off:#x} out of file"))?;
    let end = rest.iter().position(|&c| c == 0).ok_or("unterminated string")?;
    Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
}

/// Parses a PE32+ image.
pub fn parse(b: &[u8]) -> Result<Image, String> {
    if b.get(..2) != Some(b"MZ") {
        return Err("not an MZ image".into());
    }
    let pe = u32_at(b, 0x3c)? as usize;
    if b.get(pe..pe + 4) != Some(b"PE\0\0") {
        return Err("no PE signature".into());
    }
    let coff = pe + 4;
    let nsections = u16_at(b, coff + 2)? as usize;
    let opt_size = u16_at(b, coff + 16)? as usize;
    let opt = coff + 20;
    if u16_at(b, opt)? != 0x20b {
        return Err("not PE32+".into());
    }
    let entry_rva = u32_at(b, opt + 16)?;
    let subsystem = u16_at(b, opt + 68)?;
    let ndirs = u32_at(b, opt + 108)? as usize;
    let dir = |i: usize| -> Result<(u32, u32), String> {
        if i >= ndirs {
            return Ok((0, 0));
        }
        Ok((u32_at(b, opt + 112 + i * 8)?, u32_at(b, opt + 112 + i * 8 + 4)?))
    };
    let mut secs = Vec::new();
    let sh = opt + opt_size;
    for i in 0..nsections {
        let s = sh + i * 40;
        secs.push((
            u32_at(b, s + 12)?,
            u32_at(b, s + 8)?,
            u32_at(b, s + 20)?,
            u32_at(b, s + 16)?,
        ));
    }
    let secs = Sections(secs);
    let mut img = Image {
        subsystem,
        entry_rva,
        ..Image::default()
    };

    let (imp_rva, imp_size) = dir(1)?;
    if imp_rva != 0 && imp_size != 0 {
        let mut d = secs.offset(imp_rva)?;
        loop {
            let (oft, name, ft) = (u32_at(b, d)?, u32_at(b, d + 12)?, u32_at(b, d + 16)?);
            if oft == 0 && name == 0 && ft == 0 {
                break;
            }
            let dll = c_string(b, secs.offset(name)?)?;
            let mut t = secs.offset(if oft != 0 { oft } else { ft })?;
            let mut names = Vec::new();
            loop {
                let thunk = u64_at(b, t)?;
                if thunk == 0 {
                    break;
                }
                if thunk & (1 << 63) != 0 {
                    names.push(format!("#{}", thunk & 0xffff));
                } else {
                    let rva = u32::try_from(thunk).map_err(|_| "bad thunk")?;
                    names.push(c_string(b, secs.offset(rva)? + 2)?);
                }
                t += 8;
            }
            img.imports.entry(dll).or_default().extend(names);
            d += 20;
        }
    }

    let (exp_rva, exp_size) = dir(0)?;
    if exp_rva != 0 && exp_size != 0 {
        let e = secs.offset(exp_rva)?;
        let nfuncs = u32_at(b, e + 20)? as usize;
        let n = u32_at(b, e + 24)? as usize;
        let funcs = secs.offset(u32_at(b, e + 28)?)?;
        let names = secs.offset(u32_at(b, e + 32)?)?;
        let ordinals = secs.offset(u32_at(b, e + 36)?)?;
        for i in 0..n {
            let name = c_string(b, secs.offset(u32_at(b, names + i * 4)?)?)?;
            let ordinal = usize::from(u16_at(b, ordinals + i * 2)?);
            if ordinal >= nfuncs {
                return Err(format!("export {name}: ordinal {ordinal} out of {nfuncs}"));
            }
            img.export_rvas
                .insert(name.clone(), u32_at(b, funcs + ordinal * 4)?);
            img.exports.push(name);
        }
    }
    Ok(img)
}
