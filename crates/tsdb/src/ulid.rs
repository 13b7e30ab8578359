//! ULIDs: the 128-bit identifiers that name blocks.
//!
//! A ULID is a 48-bit Unix timestamp in milliseconds followed by 80 random bits, written as 26
//! characters of Crockford's base32 (`01ARZ3NDEKTSV4RRFFQ69G5FAV`). The text form sorts like
//! the number, so block directories listed by name come out in creation order, and
//! [`Ulid::new`] is monotonic within a process: two ULIDs made in the same millisecond (or
//! after the clock stepped back) still compare in creation order.
//!
//! ```
//! use prom_tsdb::ulid::Ulid;
//!
//! let a = Ulid::new();
//! let b = Ulid::new();
//! assert!(a < b);
//! let text = a.to_string();
//! assert_eq!(text.len(), 26);
//! assert_eq!(text.parse::<Ulid>()?, a);
//! let fixed = Ulid::from_parts(1_469_918_176_385, 0);
//! assert_eq!(fixed.to_string(), "01ARYZ6S410000000000000000");
//! # Ok::<(), prom_tsdb::ulid::ParseUlidError>(())
//! ```

use std::fmt;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

/// Crockford's base32 alphabet: digits and upper-case letters without I, L, O and U.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Length of the text form.
pub const ULID_LEN: usize = 26;
const RANDOM_BITS: u32 = 80;
const RANDOM_MASK: u128 = (1 << RANDOM_BITS) - 1;
/// The largest timestamp a ULID holds (48 bits of milliseconds, the year 10889).
pub const MAX_TIMESTAMP_MS: u64 = (1 << 48) - 1;

/// A ULID. Ordered by timestamp, then by the random bits.
///
/// [`Default`] is the nil ULID (all zero bits), not a fresh one; use [`Ulid::new`] for that.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Ulid(u128);

/// The last ULID [`Ulid::new`] handed out, so the next one is greater.
static LAST: Mutex<u128> = Mutex::new(0);

impl Ulid {
    /// A new ULID for the current time, greater than every ULID this process made before.
    ///
    /// Within one millisecond (or while the clock is behind the last ULID's timestamp) the
    /// previous ULID's random part is incremented instead of drawing a new one, so ULIDs made
    /// in a row stay ordered.
    #[allow(clippy::new_without_default)] // `Default` is the nil ULID; see the type's docs.
    pub fn new() -> Ulid {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| {
                u64::try_from(d.as_millis()).unwrap_or(MAX_TIMESTAMP_MS)
            })
            .min(MAX_TIMESTAMP_MS);
        let mut last = LAST.lock().unwrap_or_else(PoisonError::into_inner);
        let prev = Ulid(*last);
        let next = if prev.0 != 0 && now <= prev.timestamp_ms() {
            match prev.random().checked_add(1).filter(|r| *r <= RANDOM_MASK) {
                Some(r) => Ulid::from_parts(prev.timestamp_ms(), r),
                // The random part overflowed: borrow the next millisecond.
                None => Ulid::from_parts(prev.timestamp_ms().saturating_add(1), random_bits()),
            }
        } else {
            Ulid::from_parts(now, random_bits())
        };
        *last = next.0;
        next
    }

    /// The ULID with timestamp `timestamp_ms` (masked to 48 bits) and random part `random`
    /// (masked to 80 bits).
    pub const fn from_parts(timestamp_ms: u64, random: u128) -> Ulid {
        let t = (timestamp_ms & MAX_TIMESTAMP_MS) as u128;
        Ulid((t << RANDOM_BITS) | (random & RANDOM_MASK))
    }

    /// The ULID with these 128 bits.
    pub const fn from_u128(bits: u128) -> Ulid {
        Ulid(bits)
    }

    /// The 128 bits.
    pub const fn to_u128(self) -> u128 {
        self.0
    }

    /// The timestamp part, in milliseconds since the Unix epoch.
    pub const fn timestamp_ms(self) -> u64 {
        (self.0 >> RANDOM_BITS) as u64
    }

    /// The 80 random bits.
    pub const fn random(self) -> u128 {
        self.0 & RANDOM_MASK
    }

    /// The 16 bytes, big-endian (the binary form Prometheus's Go library uses).
    pub const fn to_bytes(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }
}

/// 80 random bits from std's SipHash keyed by the OS: every `RandomState` gets fresh keys
/// (random per thread, then incremented per instance), and a counter and the clock go into
/// the input, so successive draws differ even with equal keys. Not cryptographic; ULIDs only
/// need to be unlikely to collide.
fn random_bits() -> u128 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    h.write_u128(nanos);
    let hi = h.finish();
    h.write_u8(0x5a);
    let lo = h.finish();
    ((u128::from(hi) << 64) | u128::from(lo)) & RANDOM_MASK
}

impl fmt::Display for Ulid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = [0u8; ULID_LEN];
        for (i, c) in out.iter_mut().enumerate() {
            // 26 groups of 5 bits cover 130 bits; the first group holds the top 3.
            let shift = 5 * (ULID_LEN - 1 - i);
            *c = ALPHABET[((self.0 >> shift) & 0x1f) as usize];
        }
        // The alphabet is ASCII.
        f.write_str(std::str::from_utf8(&out).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Ulid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ulid({self})")
    }
}

/// Why a string is not a ULID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseUlidError {
    /// The string is not 26 bytes long.
    #[error("a ULID is {ULID_LEN} characters long, got {0}")]
    Length(usize),
    /// A character is not in Crockford's base32 alphabet.
    #[error("invalid character {found:?} at position {position} of a ULID")]
    InvalidChar {
        /// Byte position of the character.
        position: usize,
        /// The character.
        found: char,
    },
    /// The first character is above `7`: the value would not fit in 128 bits.
    #[error("ULID overflows 128 bits (first character {0:?} is above '7')")]
    Overflow(char),
}

fn decode_char(c: u8) -> Option<u8> {
    let c = c.to_ascii_uppercase();
    ALPHABET.iter().position(|&a| a == c).map(|p| p as u8)
}

impl FromStr for Ulid {
    type Err = ParseUlidError;

    /// Parses the 26-character form; letters may be in either case.
    fn from_str(s: &str) -> Result<Ulid, ParseUlidError> {
        if s.len() != ULID_LEN {
            return Err(ParseUlidError::Length(s.len()));
        }
        let mut v: u128 = 0;
        for (position, &b) in s.as_bytes().iter().enumerate() {
            let d = decode_char(b).ok_or_else(|| ParseUlidError::InvalidChar {
                position,
                found: s[position..].chars().next().unwrap_or('\u{fffd}'),
            })?;
            if position == 0 && d > 7 {
                return Err(ParseUlidError::Overflow(char::from(b)));
            }
            v = (v << 5) | u128::from(d);
        }
        Ok(Ulid(v))
    }
}

impl serde::Serialize for Ulid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Ulid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Ulid, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Ulid;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a 26-character ULID string")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Ulid, E> {
                s.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips_and_sorts_like_the_number() {
        let cases = [
            Ulid::from_u128(0),
            Ulid::from_u128(u128::MAX),
            Ulid::from_parts(1_469_918_176_385, 0xdead_beef),
            Ulid::from_parts(MAX_TIMESTAMP_MS, RANDOM_MASK),
        ];
        for u in cases {
            let s = u.to_string();
            assert_eq!(s.len(), ULID_LEN);
            assert_eq!(s.parse::<Ulid>().unwrap(), u);
            assert_eq!(s.to_lowercase().parse::<Ulid>().unwrap(), u);
        }
        assert_eq!(Ulid::from_u128(0).to_string(), "00000000000000000000000000");
        assert_eq!(
            Ulid::from_u128(u128::MAX).to_string(),
            "7ZZZZZZZZZZZZZZZZZZZZZZZZZ"
        );
        let mut sorted: Vec<Ulid> = cases.to_vec();
        sorted.sort();
        let mut by_text: Vec<String> = cases.iter().map(Ulid::to_string).collect();
        by_text.sort();
        assert_eq!(
            sorted.iter().map(Ulid::to_string).collect::<Vec<_>>(),
            by_text
        );
    }

    #[test]
    fn a_known_ulid_decodes_to_its_parts() {
        // The example ULID from the specification: its timestamp is 2016-07-30T23:54:10.259Z.
        let u: Ulid = "01ARZ3NDEKTSV4RRFFQ69G5FAV".parse().unwrap();
        assert_eq!(u.timestamp_ms(), 1_469_922_850_259);
        assert_eq!(u.to_string(), "01ARZ3NDEKTSV4RRFFQ69G5FAV");
    }

    #[test]
    fn bad_strings_are_rejected_with_the_reason() {
        assert_eq!(
            "01ARZ3NDEK".parse::<Ulid>(),
            Err(ParseUlidError::Length(10))
        );
        assert_eq!(
            "01ARZ3NDEKTSV4RRFFQ69G5FAU".parse::<Ulid>(),
            Err(ParseUlidError::InvalidChar {
                position: 25,
                found: 'U'
            })
        );
        assert_eq!(
            "81ARZ3NDEKTSV4RRFFQ69G5FAV".parse::<Ulid>(),
            Err(ParseUlidError::Overflow('8'))
        );
        // Multi-byte characters make the length wrong or are named.
        assert!("é1ARZ3NDEKTSV4RRFFQ69G5FA".parse::<Ulid>().is_err());
    }

    #[test]
    fn new_is_strictly_increasing_and_recent() {
        let mut prev = Ulid::new();
        for _ in 0..10_000 {
            let u = Ulid::new();
            assert!(u > prev, "{u} after {prev}");
            prev = u;
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        assert!(prev.timestamp_ms() <= now + 1_000 && prev.timestamp_ms() + 60_000 > now);
    }

    #[test]
    fn random_parts_differ() {
        let a = random_bits();
        let b = random_bits();
        assert_ne!(a, b);
        assert!(a <= RANDOM_MASK && b <= RANDOM_MASK);
    }

    #[test]
    fn serde_uses_the_text_form() {
        let u = Ulid::from_parts(1_469_918_176_385, 7);
        let json = serde_json::to_string(&u).unwrap();
        assert_eq!(json, format!("\"{u}\""));
        assert_eq!(serde_json::from_str::<Ulid>(&json).unwrap(), u);
        assert!(serde_json::from_str::<Ulid>("\"nope\"").is_err());
        assert!(serde_json::from_str::<Ulid>("17").is_err());
    }
}
