//! DNS names as the matcher sees them: lower-case wire format on the stack.
//!
//! Matching compares labels, never strings split on dots: `a\.b.example.com` (one label
//! containing a dot) must not match a rule for `b.example.com`. The wire form (length-prefixed
//! labels, no root label) makes every label-boundary suffix a contiguous sub-slice, so the
//! matcher hashes suffixes without copying or allocating.

/// Longest name in wire form without the root label (255 minus the root's length byte).
pub const MAX_WIRE_LEN: usize = 254;
/// Longest label.
pub const MAX_LABEL_LEN: usize = 63;

/// A DNS name in lower-case wire form, without the root label, held inline (no allocation).
#[derive(Clone, Copy)]
pub struct DnsName {
    wire: [u8; MAX_WIRE_LEN],
    len: u8,
    /// Some label contains a `.` byte (written `\.`): the matcher then checks labels more
    /// carefully against rule texts, where a dot always separates labels.
    dotted: bool,
}

/// Why a name cannot be matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    Empty,
    EmptyLabel,
    LabelTooLong,
    NameTooLong,
    BadEscape,
}

impl core::fmt::Display for NameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            NameError::Empty => "empty name",
            NameError::EmptyLabel => "empty label",
            NameError::LabelTooLong => "label longer than 63 bytes",
            NameError::NameTooLong => "name longer than 255 bytes in wire form",
            NameError::BadEscape => "bad escape (expected \\X or \\DDD with DDD <= 255)",
        })
    }
}

impl DnsName {
    /// The root name (no labels).
    pub const fn root() -> DnsName {
        DnsName {
            wire: [0; MAX_WIRE_LEN],
            len: 0,
            dotted: false,
        }
    }

    /// From presentation form as applications pass it to `getaddrinfo` or as users type it:
    /// ASCII, any case, optional trailing dot, `\.` and `\DDD` escapes. Non-ASCII bytes are
    /// kept as they are (they can never match a rule, which are all A-labels).
    pub fn from_text(text: &[u8]) -> Result<DnsName, NameError> {
        if text.is_empty() {
            return Err(NameError::Empty);
        }
        let mut name = DnsName::root();
        if text == b"." {
            return Ok(name);
        }
        // Nearly every name has no escapes: copy it eight bytes at a time, lower-cased, and
        // turn each dot into the next label's length byte (text byte `i` is wire byte
        // `i + 1`). A backslash anywhere sends the name to the general path below.
        let body = text.strip_suffix(b".").unwrap_or(text);
        if body.len() < MAX_WIRE_LEN {
            let (mut start, mut at) = (0usize, 0usize);
            while let Some(rest) = body.get(at..).filter(|r| !r.is_empty()) {
                let n = rest.len().min(8);
                // Fixed-size copies (no memcpy calls); bytes written past the name's end
                // are outside its wire form.
                let mut chunk = [0u8; 8];
                match rest.get(..8) {
                    Some(full) => chunk.copy_from_slice(full),
                    None => chunk.iter_mut().zip(rest).for_each(|(c, &b)| *c = b),
                }
                let word = u64::from_le_bytes(chunk);
                if bytes_equal(word, b'\\') != 0 {
                    break;
                }
                let lower = lower_ascii(word).to_le_bytes();
                match name.wire.get_mut(at + 1..at + 9) {
                    Some(dest) => dest.copy_from_slice(&lower),
                    None => name.wire[at + 1..]
                        .iter_mut()
                        .zip(&lower[..n])
                        .for_each(|(d, &b)| *d = b),
                }
                // The zero padding of a short last chunk holds no dots.
                let mut dots = bytes_equal(word, b'.');
                while dots != 0 {
                    let i = at + (dots.trailing_zeros() / 8) as usize;
                    name.wire[start] = label_len(i - start)?;
                    start = i + 1;
                    dots &= dots - 1;
                }
                at += n;
            }
            if at == body.len() {
                name.wire[start] = label_len(body.len() - start)?;
                name.len = (body.len() + 1) as u8;
                return Ok(name);
            }
        }
        // `out` is where the next byte goes; `start` holds the open label's length byte.
        let (mut out, mut start, mut label_len) = (1usize, 0usize, 0usize);
        let mut i = 0;
        while let Some(&c) = text.get(i) {
            i += 1;
            let byte = match c {
                b'.' => {
                    if label_len == 0 {
                        return Err(NameError::EmptyLabel);
                    }
                    name.wire[start] = label_len as u8;
                    if i == text.len() {
                        // The trailing dot of a fully qualified name.
                        name.len = out as u8;
                        return Ok(name);
                    }
                    (start, label_len) = (out, 0);
                    out += 1;
                    continue;
                }
                b'\\' => {
                    let (byte, used) = unescape(text.get(i..).unwrap_or_default())?;
                    i += used;
                    name.dotted |= byte == b'.';
                    byte
                }
                _ => c,
            };
            if label_len == MAX_LABEL_LEN {
                return Err(NameError::LabelTooLong);
            }
            let Some(slot) = name.wire.get_mut(out) else {
                return Err(NameError::NameTooLong);
            };
            *slot = byte.to_ascii_lowercase();
            out += 1;
            label_len += 1;
        }
        if label_len == 0 {
            return Err(NameError::EmptyLabel);
        }
        name.wire[start] = label_len as u8;
        name.len = out as u8;
        Ok(name)
    }

    /// From uncompressed wire labels (as parsed from a DNS message), lower-casing them.
    /// An empty label is accepted only as the last one (the root label).
    pub fn from_labels<'l, I>(labels: I) -> Result<DnsName, NameError>
    where
        I: IntoIterator<Item = &'l [u8]>,
    {
        let mut name = DnsName::root();
        let mut out = 0usize;
        let mut ended = false;
        for label in labels {
            if ended {
                return Err(NameError::EmptyLabel);
            }
            if label.is_empty() {
                ended = true;
                continue;
            }
            out = name.push_label(out, label)?;
            name.dotted |= label.contains(&b'.');
        }
        name.len = out as u8;
        Ok(name)
    }

    /// Writes a non-empty label at `out`, lower-cased; returns the end.
    fn push_label(&mut self, out: usize, label: &[u8]) -> Result<usize, NameError> {
        if label.len() > MAX_LABEL_LEN {
            return Err(NameError::LabelTooLong);
        }
        let end = out + 1 + label.len();
        let Some(dest) = self.wire.get_mut(out..end) else {
            return Err(NameError::NameTooLong);
        };
        dest[0] = label.len() as u8;
        for (d, s) in dest[1..].iter_mut().zip(label) {
            *d = s.to_ascii_lowercase();
        }
        Ok(end)
    }

    /// The lower-case wire form without the root label.
    pub fn wire(&self) -> &[u8] {
        &self.wire[..self.len as usize]
    }

    /// Whether some label contains a `.` byte (only possible through `\\.` or wire labels).
    pub fn has_dotted_label(&self) -> bool {
        self.dotted
    }

    /// Number of labels (0 for the root).
    pub fn label_count(&self) -> usize {
        Labels { rest: self.wire() }.count()
    }

    /// The labels, left to right, without length bytes.
    pub fn labels(&self) -> impl Iterator<Item = &[u8]> {
        Labels { rest: self.wire() }
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;
const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// The high bit of every byte of `word` that equals `b`. Exact: the additions cannot
/// carry from one byte into the next.
#[inline]
fn bytes_equal(word: u64, b: u8) -> u64 {
    let x = word ^ (ONES * u64::from(b));
    !(((x & LOW7) + LOW7) | x) & HIGH
}

/// `A`-`Z` to `a`-`z` in each byte; other bytes (including non-ASCII) unchanged.
#[inline]
fn lower_ascii(word: u64) -> u64 {
    let ascii = word & LOW7;
    // High bit set where the low seven bits are at least `A` and not above `Z`; no carries
    // (at most 0x7f + 0x3f), and bytes with the high bit set are left alone.
    let upper = (ascii + ONES * 0x3f) & !(ascii + ONES * 0x25) & !word & HIGH;
    word | (upper >> 2)
}

/// A label's length byte, if the length is allowed.
#[inline]
fn label_len(len: usize) -> Result<u8, NameError> {
    match len {
        0 => Err(NameError::EmptyLabel),
        1..=MAX_LABEL_LEN => Ok(len as u8),
        _ => Err(NameError::LabelTooLong),
    }
}

/// Parses what follows a backslash: `\DDD` (decimal byte) or `\X` (X literally).
/// Returns the byte and how many input bytes were used.
fn unescape(rest: &[u8]) -> Result<(u8, usize), NameError> {
    let first = *rest.first().ok_or(NameError::BadEscape)?;
    if !first.is_ascii_digit() {
        return Ok((first, 1));
    }
    let digits = rest.get(..3).ok_or(NameError::BadEscape)?;
    let mut value: u32 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return Err(NameError::BadEscape);
        }
        value = value * 10 + u32::from(d - b'0');
    }
    u8::try_from(value)
        .map(|v| (v, 3))
        .map_err(|_| NameError::BadEscape)
}

/// Iterates wire labels; stops (rather than panicking) at a malformed length byte.
struct Labels<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Labels<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let (&len, tail) = self.rest.split_first()?;
        let label = tail.get(..len as usize)?;
        self.rest = tail.get(len as usize..)?;
        Some(label)
    }
}

impl PartialEq for DnsName {
    fn eq(&self, other: &DnsName) -> bool {
        self.wire() == other.wire()
    }
}

impl Eq for DnsName {}

impl core::hash::Hash for DnsName {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.wire().hash(state);
    }
}

impl core::fmt::Display for DnsName {
    /// Presentation form without the trailing dot, escaping `.` and `\` inside labels and
    /// non-printable bytes as `\DDD`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.len == 0 {
            return f.write_str(".");
        }
        for (i, label) in self.labels().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            for &b in label {
                match b {
                    b'.' | b'\\' => write!(f, "\\{}", b as char)?,
                    0x21..=0x7e => write!(f, "{}", b as char)?,
                    _ => write!(f, "\\{b:03}")?,
                }
            }
        }
        Ok(())
    }
}

impl core::fmt::Debug for DnsName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "DnsName({self})")
    }
}
