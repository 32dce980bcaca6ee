//! Detectors for attack classes CRS at low paranoia misses (NoSQL operators, template
//! injection, LDAP filters, CRLF). (Stub: the API the engine codes against; bodies to come.)

use crate::Protection;

/// One detector hit: the protection, a short rule-like id and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Detection {
    pub protection: Protection,
    /// Ids in the 990000 range, not used by CRS.
    pub id: u32,
    pub msg: &'static str,
}

/// Where a value came from: detectors judge a JSON key differently from a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    ArgName,
    ArgValue,
    JsonKey,
    HeaderValue,
    CookieValue,
    Path,
}

/// Runs every detector on one decoded value.
pub fn detect(place: Place, value: &[u8]) -> Option<Detection> {
    let _ = (place, value);
    None
}
