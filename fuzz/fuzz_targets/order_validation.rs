//! Fuzz target `order_validation`: a `POST /orders` body as the HTTP layer reads it
//! (`NewOrder::from_json_bytes`, and `NewOrder::from_json_value` as the import worker reads it),
//! then priced as the service prices it (`NewOrder::price`) against the demo catalog and against a
//! catalog of extreme prices derived from the input.
//!
//! Properties:
//! - never panics; both entry points give the same verdict on the same JSON;
//! - an accepted order keeps the documented limits (ids, 1 to 100 items, quantities 1 to 1000, each
//!   product once) and reads back to itself (and the same fingerprint) from its JSON form;
//! - pricing is exact or refused: each line total is unit price × quantity, the total is the sum of
//!   the line totals (computed here in i128, so an overflow cannot hide), a total above
//!   `Money::MAX` is refused as too large, an unknown product is refused by name;
//! - money round-trips through JSON: the priced order, as `GET /orders/{id}` shows it, reads back
//!   equal, amounts are written with exactly two decimals and parse back from their text.

#![no_main]

use libfuzzer_sys::fuzz_target;
use orders_core::domain::validation::{MAX_ID_CHARS, MAX_ITEMS, MAX_QUANTITY};
use orders_core::domain::{Money, NewOrder, Order, OrderId, OrderStatus, Product, ProductCatalog, ValidationError};
use orders_core::domain::json::from_slice_unique;

fuzz_target!(|data: &[u8]| {
    let from_bytes = NewOrder::from_json_bytes(data);
    // The reference reading is the one every client JSON gets: serde_json's, refusing repeated keys.
    match from_slice_unique(data) {
        Ok(value) => assert_eq!(NewOrder::from_json_value(value), from_bytes, "the two entry points disagree"),
        Err(_) => match &from_bytes {
            Err(ValidationError::Body(reason)) => assert!(reason.starts_with("Invalid JSON: "), "{reason}"),
            other => panic!("a body that is not JSON gave {other:?}"),
        },
    }
    let Ok(order) = from_bytes else { return };

    check_limits(&order);
    let json = serde_json::to_vec(&order).expect("a NewOrder serialises");
    let again = NewOrder::from_json_bytes(&json).expect("an accepted order's own JSON is accepted");
    assert_eq!(again, order, "an order changed through its JSON form");
    assert_eq!(again.fingerprint(), order.fingerprint());

    check_pricing(&order, &ProductCatalog::demo());
    check_pricing(&order, &extreme_catalog(&order, data));
});

fn check_limits(order: &NewOrder) {
    let id_ok = |id: &str| {
        (1..=MAX_ID_CHARS).contains(&id.chars().count()) && id.trim() == id && !id.chars().any(char::is_control)
    };
    assert!(id_ok(&order.customer_id), "customer_id {:?}", order.customer_id);
    assert!((1..=MAX_ITEMS).contains(&order.items.len()), "{} items", order.items.len());
    let mut seen = std::collections::HashSet::new();
    for item in &order.items {
        assert!(id_ok(&item.product_id), "product_id {:?}", item.product_id);
        assert!((1..=MAX_QUANTITY).contains(&item.quantity), "quantity {}", item.quantity);
        assert!(seen.insert(item.product_id.as_str()), "{} listed twice", item.product_id);
    }
}

/// A catalog holding some of the order's products (the rest are unknown) at legal but extreme
/// prices, chosen by the input's bytes: up to `Money::MAX` per unit, so totals can pass the limit.
fn extreme_catalog(order: &NewOrder, data: &[u8]) -> ProductCatalog {
    let prices = [1, 99, 100_000_000_000, Money::MAX.cents() / 1000, Money::MAX.cents() / 100, Money::MAX.cents()];
    order
        .items
        .iter()
        .enumerate()
        .filter_map(|(index, item)| {
            let byte = usize::from(data.get(index).copied().unwrap_or(0));
            let cents = *prices.get(byte % 7)?; // 1 in 7: not in the catalog
            Some(Product {
                product_id: item.product_id.clone(),
                name: "Fuzz".to_owned(),
                unit_price: Money::from_cents(cents),
                stock: None,
            })
        })
        .collect()
}

fn check_pricing(order: &NewOrder, catalog: &ProductCatalog) {
    let unknown = order.items.iter().position(|item| catalog.get(&item.product_id).is_none());
    let priced = order.price(catalog);
    if let Some(index) = unknown {
        let expected = ValidationError::UnknownProduct {
            field: format!("items[{index}].product_id"),
            product_id: order.items[index].product_id.clone(),
        };
        // The items before it are priced first: their total may already be refused as too large.
        let before: i128 = order.items[..index]
            .iter()
            .filter_map(|item| catalog.get(&item.product_id).map(|p| exact_line(p, item.quantity)))
            .sum();
        let too_large = before > i128::from(Money::MAX.cents());
        match priced {
            Err(error) if error == expected => assert!(!too_large, "{before} before items[{index}] not refused"),
            Err(ValidationError::Invalid { field, reason })
                if field == "items" && reason == "order total is too large" =>
            {
                assert!(too_large, "refused as too large at {before}");
            }
            other => panic!("unknown product at items[{index}] gave {other:?}"),
        }
        return;
    }

    let exact: i128 =
        order.items.iter().filter_map(|i| catalog.get(&i.product_id).map(|p| exact_line(p, i.quantity))).sum();
    let (items, total) = match priced {
        Ok(priced) => priced,
        Err(ValidationError::Invalid { field, reason }) if field == "items" && reason == "order total is too large" => {
            assert!(exact > i128::from(Money::MAX.cents()), "refused as too large, yet the total is {exact}");
            return;
        }
        Err(error) => panic!("pricing a valid order of known products failed: {error}"),
    };
    assert!(exact <= i128::from(Money::MAX.cents()), "total {exact} above Money::MAX was accepted");
    assert_eq!(i128::from(total.cents()), exact, "total is not the exact sum");
    assert_eq!(items.len(), order.items.len());
    let mut sum = 0_i128;
    for (line, requested) in items.iter().zip(&order.items) {
        let product = catalog.get(&requested.product_id).expect("priced, so known");
        assert_eq!(line.product_id, requested.product_id);
        assert_eq!(line.quantity, requested.quantity);
        assert_eq!(line.unit_price, product.unit_price);
        assert_eq!(i128::from(line.line_total.cents()), exact_line(product, line.quantity), "line total");
        sum += i128::from(line.line_total.cents());
    }
    assert_eq!(i128::from(total.cents()), sum, "the total is not the sum of its line totals");

    // Money through its JSON form: the whole order as the API shows it, and each amount alone.
    let shown = Order {
        order_id: fixed_id(),
        customer_id: order.customer_id.clone(),
        items,
        total_amount: total,
        status: OrderStatus::Pending,
        version: 1,
        created_at: chrono::DateTime::UNIX_EPOCH,
        updated_at: chrono::DateTime::UNIX_EPOCH,
        execution_arn: None,
        failure_reason: None,
        correlation_id: None,
    };
    let text = serde_json::to_string(&shown).expect("an order serialises");
    let back: Order = serde_json::from_str(&text).expect("an order reads back");
    assert_eq!(back, shown, "an order changed through its JSON form: {text}");
    for amount in shown.items.iter().flat_map(|i| [i.unit_price, i.line_total]).chain([total]) {
        check_amount(amount);
    }
}

fn check_amount(amount: Money) {
    let text = amount.to_string();
    let (whole, cents) = text.split_once('.').expect("two decimals");
    assert!(cents.len() == 2 && !whole.is_empty(), "amount shown as {text}");
    assert_eq!(serde_json::to_string(&amount).ok().as_deref(), Some(text.as_str()), "JSON differs from text");
    assert_eq!(text.parse::<Money>().ok(), Some(amount), "{text} does not parse back");
    assert_eq!(serde_json::from_str::<Money>(&text).ok(), Some(amount), "{text} does not read back as JSON");
    assert_eq!(serde_json::from_str::<Money>(&format!("\"{text}\"")).ok(), Some(amount), "{text} as a string");
}

fn exact_line(product: &Product, quantity: u32) -> i128 {
    i128::from(product.unit_price.cents()) * i128::from(quantity)
}

fn fixed_id() -> OrderId {
    // The API's ids are v7; any fixed id will do for a round trip.
    "00000000-0000-4000-8000-000000000000".parse().expect("a canonical UUID")
}
