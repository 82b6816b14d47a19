//! Money in integer minor units (cents). Sums never touch floating point; JSON shows amounts as a
//! number with exactly two decimals (`150.75`, `12.00`), as the API seed does.

use std::fmt;
use std::str::FromStr;

use serde::de::Error as _;
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

/// An amount of money in cents of the catalog's single currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i64);

/// Why a decimal amount could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid amount {text:?}: expected a decimal with at most two fraction digits, like 25.50")]
pub struct MoneyParseError {
    text: String,
}

impl Money {
    /// The largest amount accepted anywhere (ten billion): far beyond any order, far below overflow.
    pub const MAX: Money = Money(1_000_000_000_000);

    /// An amount of `cents` minor units.
    pub const fn from_cents(cents: i64) -> Self {
        Money(cents)
    }

    /// The amount in minor units.
    pub const fn cents(self) -> i64 {
        self.0
    }

    /// `self * quantity`, or `None` on overflow.
    pub fn checked_mul(self, quantity: u32) -> Option<Money> {
        self.0.checked_mul(i64::from(quantity)).map(Money)
    }

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

impl FromStr for Money {
    type Err = MoneyParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = || MoneyParseError { text: text.to_owned() };
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || whole.len() > 12 || !all_digits(whole) {
            return Err(err());
        }
        if fraction.len() > 2 || !all_digits(fraction) || (text.contains('.') && fraction.is_empty()) {
            return Err(err());
        }
        let whole: i64 = whole.parse().map_err(|_| err())?;
        let fraction: i64 = format!("{fraction:0<2}").parse().map_err(|_| err())?;
        let cents = whole.checked_mul(100).and_then(|w| w.checked_add(fraction)).ok_or_else(err)?;
        let money = Money(cents);
        if money > Money::MAX { Err(err()) } else { Ok(money) }
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // A raw JSON number keeps the two decimals (`12.00`) that an f64 would drop.
        let raw = RawValue::from_string(self.to_string()).map_err(S::Error::custom)?;
        raw.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Money {
    /// Reads a JSON number or a decimal string from its exact text: `25.5`, `"25.50"`, `3`.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        let text = raw.get();
        let text = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(text);
        text.parse().map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn shows_two_decimals() {
        assert_eq!(Money::from_cents(15075).to_string(), "150.75");
        assert_eq!(Money::from_cents(1200).to_string(), "12.00");
        assert_eq!(Money::from_cents(5).to_string(), "0.05");
        assert_eq!(serde_json::to_string(&Money::from_cents(1200)).unwrap(), "12.00");
    }

    #[test]
    fn parses_decimal_text_exactly() {
        assert_eq!("25.50".parse::<Money>().unwrap().cents(), 2550);
        assert_eq!("25.5".parse::<Money>().unwrap().cents(), 2550);
        assert_eq!("3".parse::<Money>().unwrap().cents(), 300);
        assert_eq!("0.10".parse::<Money>().unwrap().cents(), 10);
        for bad in ["", ".5", "1.", "1.234", "-1", "1e3", "abc", "99999999999999"] {
            assert!(bad.parse::<Money>().is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn deserializes_numbers_and_strings_without_floats() {
        let m: Money = serde_json::from_str("0.29").unwrap();
        assert_eq!(m.cents(), 29);
        let m: Money = serde_json::from_str("\"19.99\"").unwrap();
        assert_eq!(m.cents(), 1999);
    }
}
