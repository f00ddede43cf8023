//! The subset of SDDL a device security string of this project uses: a DACL of access-allowed
//! ACEs for well-known accounts (`D:P(A;;GA;;;SY)(A;;GA;;;BA)` is `SDDL_DEVOBJ_SYS_ALL_ADM_ALL`).
//!
//! Grammar accepted (anything else is refused, never guessed):
//! - `D:` then optional DACL flags, of which `P` (protected: no inherited ACEs) is honoured and
//!   `AI`/`AR` are accepted and ignored;
//! - one or more `(A;;RIGHTS;;;SID)` ACEs (access allowed, no ACE flags, no object GUIDs), at
//!   most [`MAX_ACES`];
//! - RIGHTS: two-letter codes `GA GR GW GX FA FR FW FX SD RC WD WO` concatenated, or a
//!   hexadecimal `0x…` mask;
//! - SID: the aliases `SY BA BU WD LS NS AU IU` or a literal `S-1-A-S1[-S2]` with at most two
//!   sub-authorities.
//!
//! Pure logic, tested on the host. The WDM front end applies the driver's string with
//! `security::apply_dacl`; the WDF test double applies whatever string a KMDF driver hands to
//! `WdfControlDeviceInitAllocate`.

/// Most ACEs a DACL may have here.
pub const MAX_ACES: usize = 8;

/// A SID with at most two sub-authorities.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sid {
    /// The identifier authority (the last byte of the six; the others are 0 for every SID here).
    pub authority: u8,
    /// The sub-authorities used.
    pub sub_count: u8,
    /// Sub-authorities (`sub_count` of them are meaningful).
    pub sub: [u32; 2],
}

impl Sid {
    /// An NT-authority SID (`S-1-5-…`) with one or two sub-authorities.
    const fn nt(sub: &[u32]) -> Sid {
        let mut s = Sid {
            authority: 5,
            sub_count: 0,
            sub: [0; 2],
        };
        while (s.sub_count as usize) < sub.len() {
            s.sub[s.sub_count as usize] = sub[s.sub_count as usize];
            s.sub_count += 1;
        }
        s
    }

    /// `S-1-5-18` (SYSTEM).
    pub const SYSTEM: Sid = Sid::nt(&[18]);
    /// `S-1-5-32-544` (BUILTIN\Administrators).
    pub const ADMINISTRATORS: Sid = Sid::nt(&[32, 544]);
}

/// One access-allowed ACE.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ace {
    /// The access mask (generic rights are mapped by the object manager when applied).
    pub mask: u32,
    /// Who is allowed.
    pub sid: Sid,
}

/// A parsed DACL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dacl {
    /// `P`: protected from inheritance.
    pub protected: bool,
    aces: [Ace; MAX_ACES],
    len: usize,
}

impl Dacl {
    /// The ACEs, in order.
    pub fn aces(&self) -> &[Ace] {
        &self.aces[..self.len]
    }
}

/// Why a string was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SddlError {
    /// Not `D:…`, or a token out of place.
    Syntax {
        /// Where parsing stopped, in UTF-16 units.
        at: usize,
    },
    /// A right or a SID alias outside the subset.
    Unsupported {
        /// Where the field starts, in UTF-16 units.
        at: usize,
    },
    /// More than [`MAX_ACES`] ACEs.
    TooManyAces,
    /// No ACE at all (an empty DACL denies everybody; never what a device wants).
    Empty,
}

const RIGHTS: &[(&[u8; 2], u32)] = &[
    (b"GA", 0x1000_0000),
    (b"GX", 0x2000_0000),
    (b"GW", 0x4000_0000),
    (b"GR", 0x8000_0000),
    (b"FA", 0x001F_01FF),
    (b"FR", 0x0012_0089),
    (b"FW", 0x0012_0116),
    (b"FX", 0x0012_00A0),
    (b"SD", 0x0001_0000),
    (b"RC", 0x0002_0000),
    (b"WD", 0x0004_0000),
    (b"WO", 0x0008_0000),
];

const ALIASES: &[(&[u8; 2], Sid)] = &[
    (b"SY", Sid::SYSTEM),
    (b"BA", Sid::ADMINISTRATORS),
    (b"BU", Sid::nt(&[32, 545])),
    (b"LS", Sid::nt(&[19])),
    (b"NS", Sid::nt(&[20])),
    (b"AU", Sid::nt(&[11])),
    (b"IU", Sid::nt(&[4])),
    (
        b"WD",
        Sid {
            authority: 1,
            sub_count: 1,
            sub: [0, 0],
        },
    ),
];

struct Cursor<'a> {
    s: &'a [u16],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u16> {
        self.s.get(self.at).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(u16::from(c)) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), SddlError> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(SddlError::Syntax { at: self.at })
        }
    }

    /// The ASCII field up to (not including) `end`.
    fn field(&mut self, end: u8) -> Result<&[u16], SddlError> {
        let start = self.at;
        while let Some(c) = self.peek() {
            if c == u16::from(end) {
                return Ok(&self.s[start..self.at]);
            }
            if c >= 0x80 {
                return Err(SddlError::Syntax { at: self.at });
            }
            self.at += 1;
        }
        Err(SddlError::Syntax { at: self.at })
    }
}

fn pair(f: &[u16], i: usize) -> Option<[u8; 2]> {
    let a = u8::try_from(*f.get(i)?).ok()?;
    let b = u8::try_from(*f.get(i + 1)?).ok()?;
    Some([a, b])
}

fn number(f: &[u16], radix: u32) -> Option<u32> {
    if f.is_empty() {
        return None;
    }
    let mut v: u32 = 0;
    for &c in f {
        let d = char::from_u32(u32::from(c))?.to_digit(radix)?;
        v = v.checked_mul(radix)?.checked_add(d)?;
    }
    Some(v)
}

fn rights(f: &[u16]) -> Option<u32> {
    if let Some(hex) = f.strip_prefix(&[u16::from(b'0'), u16::from(b'x')]) {
        return number(hex, 16);
    }
    if f.is_empty() || !f.len().is_multiple_of(2) {
        return None;
    }
    let mut mask = 0;
    for i in (0..f.len()).step_by(2) {
        let code = pair(f, i)?;
        mask |= RIGHTS.iter().find(|(c, _)| **c == code)?.1;
    }
    Some(mask)
}

fn sid(f: &[u16]) -> Option<Sid> {
    if f.len() == 2 {
        let code = pair(f, 0)?;
        return ALIASES.iter().find(|(c, _)| **c == code).map(|(_, s)| *s);
    }
    // S-1-A-S1[-S2]
    let mut parts = f.split(|&c| c == u16::from(b'-'));
    if parts.next()? != [u16::from(b'S')] || parts.next()? != [u16::from(b'1')] {
        return None;
    }
    let authority = u8::try_from(number(parts.next()?, 10)?).ok()?;
    let mut s = Sid {
        authority,
        ..Sid::default()
    };
    for p in parts {
        let i = usize::from(s.sub_count);
        if i >= s.sub.len() {
            return None;
        }
        s.sub[i] = number(p, 10)?;
        s.sub_count += 1;
    }
    (s.sub_count > 0).then_some(s)
}

/// Parses `s` (UTF-16, no terminating NUL needed).
pub fn parse(s: &[u16]) -> Result<Dacl, SddlError> {
    let mut c = Cursor { s, at: 0 };
    c.expect(b'D')?;
    c.expect(b':')?;
    let mut dacl = Dacl {
        protected: false,
        aces: [Ace::default(); MAX_ACES],
        len: 0,
    };
    loop {
        if c.eat(b'P') {
            dacl.protected = true;
        } else if c.eat(b'A') {
            // AI / AR: auto-inheritance flags, meaningless for a device object.
            if !(c.eat(b'I') || c.eat(b'R')) {
                return Err(SddlError::Syntax { at: c.at });
            }
        } else {
            break;
        }
    }
    while c.eat(b'(') {
        c.expect(b'A')?;
        c.expect(b';')?;
        c.expect(b';')?;
        let at = c.at;
        let mask = rights(c.field(b';')?).ok_or(SddlError::Unsupported { at })?;
        for _ in 0..3 {
            c.expect(b';')?;
        }
        let at = c.at;
        let sid = sid(c.field(b')')?).ok_or(SddlError::Unsupported { at })?;
        c.expect(b')')?;
        if dacl.len == MAX_ACES {
            return Err(SddlError::TooManyAces);
        }
        dacl.aces[dacl.len] = Ace { mask, sid };
        dacl.len += 1;
    }
    if c.at != s.len() {
        return Err(SddlError::Syntax { at: c.at });
    }
    if dacl.len == 0 {
        return Err(SddlError::Empty);
    }
    Ok(dacl)
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests are not the driver: driver/clippy.toml
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<u16> {
        s.encode_utf16().collect()
    }

    #[test]
    fn system_and_administrators() {
        let d = parse(&w("D:P(A;;GA;;;SY)(A;;GA;;;BA)")).unwrap();
        assert!(d.protected);
        assert_eq!(
            d.aces(),
            &[
                Ace {
                    mask: 0x1000_0000,
                    sid: Sid::SYSTEM
                },
                Ace {
                    mask: 0x1000_0000,
                    sid: Sid::ADMINISTRATORS
                }
            ]
        );
    }

    #[test]
    fn rights_combine_and_sids_may_be_literal() {
        let d = parse(&w("D:(A;;GRGW;;;WD)(A;;0x1f01ff;;;S-1-5-32-545)")).unwrap();
        assert!(!d.protected);
        assert_eq!(d.aces()[0].mask, 0xC000_0000);
        assert_eq!(
            d.aces()[0].sid,
            Sid {
                authority: 1,
                sub_count: 1,
                sub: [0, 0]
            }
        );
        assert_eq!(d.aces()[1].mask, 0x001F_01FF);
        assert_eq!(d.aces()[1].sid, Sid::nt(&[32, 545]));
    }

    #[test]
    fn refuses_what_it_does_not_understand() {
        for (s, e) in [
            ("", SddlError::Syntax { at: 0 }),
            ("O:BAD:P(A;;GA;;;SY)", SddlError::Syntax { at: 0 }),
            ("D:P", SddlError::Empty),
            ("D:P(D;;GA;;;SY)", SddlError::Syntax { at: 4 }),
            ("D:P(A;;ZZ;;;SY)", SddlError::Unsupported { at: 7 }),
            ("D:P(A;;GA;;;XX)", SddlError::Unsupported { at: 12 }),
            ("D:P(A;;GA;;;S-1-5-1-2-3)", SddlError::Unsupported { at: 12 }),
            ("D:P(A;;GA;;;SY", SddlError::Syntax { at: 14 }),
            ("D:P(A;;GA;;;SY)x", SddlError::Syntax { at: 15 }),
        ] {
            assert_eq!(parse(&w(s)), Err(e), "{s:?}");
        }
        let many = format!("D:{}", "(A;;GA;;;SY)".repeat(MAX_ACES + 1));
        assert_eq!(parse(&w(&many)), Err(SddlError::TooManyAces));
    }

    #[test]
    fn never_panics_on_junk() {
        let alphabet: Vec<u16> = "D:PA();SYBGARWX0x1-\u{e9}".encode_utf16().collect();
        let mut state = 0x2545_F491u32;
        for _ in 0..20_000 {
            let len = (state % 24) as usize;
            let s: Vec<u16> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    alphabet[state as usize % alphabet.len()]
                })
                .collect();
            let _ = parse(&s);
        }
    }
}
