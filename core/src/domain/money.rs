//! Money in integer minor units (cents). Sums never touch floating point; JSON shows amounts as a
//! number with exactly two decimals (`150.75`, `12.00`), as the API seed does.

use std::fmt;
use std::str::FromStr;

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

/// Room for any amount as a decimal: a sign, 20 digits, the point and two decimals.
const DECIMAL_BYTES: usize = 24;

impl Money {
    /// The amount as a decimal with two fraction digits (`-3.05`), written into `buffer`: every
    /// order shown carries several amounts, and this is what each costs (no formatter, no
    /// allocation).
    fn decimal(self, buffer: &mut [u8; DECIMAL_BYTES]) -> &str {
        let mut rest = self.0.unsigned_abs();
        let mut at = buffer.len();
        let mut put = |byte: u8| {
            at -= 1;
            buffer[at] = byte;
        };
        let cents = rest % 100;
        rest /= 100;
        put(b'0' + (cents % 10) as u8);
        put(b'0' + (cents / 10) as u8);
        put(b'.');
        loop {
            put(b'0' + (rest % 10) as u8);
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        if self.0 < 0 {
            put(b'-');
        }
        // Only ASCII digits, a point and a sign were written.
        std::str::from_utf8(&buffer[at..]).unwrap_or_default()
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.decimal(&mut [0; DECIMAL_BYTES]))
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
        // A raw JSON number keeps the two decimals (`12.00`) that an f64 would drop; borrowed from
        // the stack, it costs no allocation.
        let mut buffer = [0; DECIMAL_BYTES];
        let raw: &RawValue = serde_json::from_str(self.decimal(&mut buffer)).map_err(S::Error::custom)?;
        raw.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Money {
    /// Reads a decimal string (`"25.50"`, exact) or a JSON number (`25.5`, `3`). A number arrives as
    /// an f64; within [`Money::MAX`] its value times 100 lies within 1e-3 of the intended whole
    /// number of cents, so rounding recovers it exactly, and anything further off has more than two
    /// decimals and is refused.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MoneyVisitor)
    }
}

struct MoneyVisitor;

impl serde::de::Visitor<'_> for MoneyVisitor {
    type Value = Money;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an amount with at most two decimals, as a number or a string")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Money, E> {
        text.parse().map_err(E::custom)
    }

    fn visit_u64<E: serde::de::Error>(self, units: u64) -> Result<Money, E> {
        i64::try_from(units)
            .ok()
            .and_then(|u| u.checked_mul(100))
            .map(Money)
            .filter(|m| *m <= Money::MAX)
            .ok_or_else(|| E::custom(format!("amount {units} is too large")))
    }

    fn visit_i64<E: serde::de::Error>(self, units: i64) -> Result<Money, E> {
        u64::try_from(units).map_err(|_| E::custom("amounts cannot be negative")).and_then(|u| self.visit_u64(u))
    }

    fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<Money, E> {
        let scaled = value * 100.0;
        let cents = scaled.round();
        let in_range = value.is_finite() && value >= 0.0 && cents <= Money::MAX.0 as f64;
        if !in_range || (scaled - cents).abs() > 1e-3 {
            return Err(E::custom(format!("invalid amount {value}: expected at most two decimals, like 25.50")));
        }
        Ok(Money(cents as i64))
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
        assert_eq!(Money::from_cents(0).to_string(), "0.00");
        assert_eq!(Money::from_cents(-305).to_string(), "-3.05");
        assert_eq!(Money::from_cents(i64::MAX).to_string(), "92233720368547758.07");
        assert_eq!(Money::from_cents(i64::MIN).to_string(), "-92233720368547758.08");
        for cents in (-100_000..100_000).chain((0..1000).map(|i| i * 7_919_993_117)) {
            let abs = i64::unsigned_abs(cents);
            let sign = if cents < 0 { "-" } else { "" };
            assert_eq!(Money(cents).to_string(), format!("{sign}{}.{:02}", abs / 100, abs % 100));
        }
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
        for bad in ["1.005", "0.001", "-1", "\"1.234\"", "1e300"] {
            assert!(serde_json::from_str::<Money>(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn every_two_decimal_amount_survives_a_json_round_trip_even_through_buffering() {
        #[derive(Serialize, Deserialize)]
        struct Inner {
            amount: Money,
        }
        #[derive(Serialize, Deserialize)]
        struct Outer {
            #[serde(flatten)]
            inner: Inner,
        }
        let samples = (0..100_000).chain([99_999_999_999, 1_000_000_000_000]).chain((0..1000).map(|i| i * 7_919_993));
        for cents in samples {
            let text = serde_json::to_string(&Outer { inner: Inner { amount: Money(cents) } }).unwrap();
            let back: Outer = serde_json::from_str(&text).unwrap();
            assert_eq!(back.inner.amount, Money(cents), "{text}");
        }
    }
}
