//! Timestamps as the States Language defines them (RFC 3339 with an uppercase `T` and, without a
//! numeric offset, an uppercase `Z`), and the format used for dates in the context object and
//! history (`2016-03-14T01:59:00.000Z`).

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};

/// Parses an ASL timestamp, e.g. `2016-03-14T01:59:00Z` or `2016-03-14T01:59:00.5+01:00`.
pub(crate) fn parse(text: &str) -> Option<DateTime<FixedOffset>> {
    // chrono accepts a lowercase `t`/`z` and a space separator; the spec does not.
    if text.len() < 20 || text.as_bytes().get(10) != Some(&b'T') || text.contains(['t', 'z', ' ']) {
        return None;
    }
    DateTime::parse_from_rfc3339(text).ok()
}

/// Formats a date the way Step Functions shows dates in the context object.
pub(crate) fn format(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_spec_shaped_timestamps_when_parsed_then_accepted_and_others_refused() {
        assert!(parse("2016-03-14T01:59:00Z").is_some());
        assert!(parse("2016-03-14T01:59:00.123+02:00").is_some());
        for bad in ["2016-03-14t01:59:00Z", "2016-03-14T01:59:00z", "2016-03-14 01:59:00Z", "2016-03-14", "soon"] {
            assert!(parse(bad).is_none(), "{bad} should be refused");
        }
    }
}
