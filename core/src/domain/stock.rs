//! Stock: how many units of a product are available and reserved, and the rules of an order's
//! reservation (all its lines or none, the first short line named, given back or consumed once).
//! The stores apply these rules atomically; the rules themselves live here.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::catalog::Product;
use super::order::Order;
use super::validation::ValidationError;

/// Most units a product can have available (fits every store's integers with room to add).
pub const MAX_STOCK: u64 = 1_000_000_000;

/// Checks a stock level a client or a catalog file gives.
pub fn check_stock(stock: u64) -> Result<u64, ValidationError> {
    if stock > MAX_STOCK {
        return Err(ValidationError::invalid("stock", format!("must be an integer from 0 to {MAX_STOCK}")));
    }
    Ok(stock)
}

/// A product as the catalog keeps it: the product (with `stock`, the units available, `None` when
/// not tracked), the units reserved by orders in progress, and a version that every change bumps
/// (a stock update conditional on it cannot overwrite a reservation it did not see).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogEntry {
    /// The product, with its available stock.
    pub product: Product,
    /// Units held by reservations not yet given back or consumed.
    pub reserved: u64,
    /// Bumped by every change to the product (catalog replacement, stock update, reservation).
    pub version: u64,
}

/// One line of an order's reservation: a product and how many of its units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLine {
    /// The product.
    pub product_id: String,
    /// Units.
    pub quantity: u64,
}

impl StockLine {
    /// What `order` asks to reserve: one line per item, in the order's item order.
    pub fn for_order(order: &Order) -> Vec<StockLine> {
        order
            .items
            .iter()
            .map(|item| StockLine { product_id: item.product_id.clone(), quantity: u64::from(item.quantity) })
            .collect()
    }
}

/// An order asked for more units than a product has available.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("out of stock: {product_id} (requested {requested}, available {available})")]
pub struct OutOfStock {
    /// The first of the order's lines that could not be reserved.
    pub product_id: String,
    /// Units the order asked for.
    pub requested: u64,
    /// Units the product had available.
    pub available: u64,
}

/// Where an order's reservation stands. Every state but `Reserved` is final: a reservation is
/// decided once, and given back or consumed once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReservationState {
    /// The units are held for the order.
    Reserved,
    /// Not enough stock: nothing was held.
    Refused,
    /// The units went back to the products (the order was cancelled or failed). Also recorded for
    /// an order released before anything was reserved, so that a late reservation holds nothing.
    Released,
    /// The order was delivered: its units left the stock for good.
    Consumed,
}

impl ReservationState {
    /// The state's name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            ReservationState::Reserved => "reserved",
            ReservationState::Refused => "refused",
            ReservationState::Released => "released",
            ReservationState::Consumed => "consumed",
        }
    }

    /// The state named `name` (as stored).
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Reserved, Self::Refused, Self::Released, Self::Consumed].into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for ReservationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What asking to reserve an order's stock did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReserveOutcome {
    /// The units are held (by this call, or by an earlier one for the same order: a redelivered
    /// task reserves nothing more). `lines` are the tracked lines held.
    Reserved {
        /// The lines held, tracked products only.
        lines: Vec<StockLine>,
    },
    /// Not enough stock (now, or when an earlier call for the same order was refused).
    OutOfStock(OutOfStock),
    /// The order's reservation was already released or consumed: nothing is held again.
    Settled(ReservationState),
}

/// What giving back or consuming an order's reservation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettleOutcome {
    /// This call settled the reservation: `lines` went back to (or left) the stock.
    Settled {
        /// The lines settled.
        lines: Vec<StockLine>,
    },
    /// The reservation had been settled before (or refused): nothing changed.
    AlreadySettled(ReservationState),
    /// Nothing was reserved for the order: the final state is recorded, so that a reservation
    /// asked for later holds nothing.
    NothingReserved,
}

/// Decides a reservation against the stock it would take from: every line of a tracked product
/// needs that many units available, else the first short line is the refusal; lines of untracked
/// products (`None`: no stock kept, or no longer in the catalog) are not held. `available` gives a
/// product's available units.
pub fn plan_reservation(
    lines: &[StockLine],
    mut available: impl FnMut(&str) -> Option<u64>,
) -> Result<Vec<StockLine>, OutOfStock> {
    let mut held = Vec::with_capacity(lines.len());
    for line in lines {
        if let Some(available) = available(&line.product_id) {
            if available < line.quantity {
                return Err(OutOfStock { product_id: line.product_id.clone(), requested: line.quantity, available });
            }
            held.push(line.clone());
        }
    }
    Ok(held)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn line(product_id: &str, quantity: u64) -> StockLine {
        StockLine { product_id: product_id.into(), quantity }
    }

    #[test]
    fn a_reservation_holds_every_tracked_line_or_names_the_first_short_one() {
        let stock = |id: &str| match id {
            "A" => Some(5),
            "B" => Some(1),
            _ => None,
        };
        assert_eq!(plan_reservation(&[line("A", 5), line("U", 9)], stock), Ok(vec![line("A", 5)]));
        let refused = plan_reservation(&[line("A", 2), line("B", 3), line("A", 9)], stock).unwrap_err();
        assert_eq!(refused.to_string(), "out of stock: B (requested 3, available 1)");
    }

    #[test]
    fn stock_levels_are_bounded_and_states_read_back() {
        assert!(check_stock(MAX_STOCK).is_ok());
        assert_eq!(
            check_stock(MAX_STOCK + 1).unwrap_err().to_string(),
            "Invalid field stock: must be an integer from 0 to 1000000000"
        );
        for state in [ReservationState::Reserved, ReservationState::Released, ReservationState::Consumed] {
            assert_eq!(ReservationState::parse(state.as_str()), Some(state));
        }
        assert_eq!(ReservationState::parse("held"), None);
    }
}
