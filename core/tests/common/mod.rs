//! Shared test builders (the workers' tests include this file too).

#![allow(dead_code)]

use orders_core::domain::{Money, Order, OrderId, OrderStatus};

/// A pending order of `customer` worth 1.00, not yet stored.
pub fn new_order(customer: &str) -> Order {
    let now = orders_core::domain::order::now_millis();
    Order {
        order_id: OrderId::generate(),
        customer_id: customer.to_owned(),
        items: Vec::new(),
        total_amount: Money::from_cents(100),
        status: OrderStatus::Pending,
        version: 1,
        created_at: now,
        updated_at: now,
        execution_arn: None,
        failure_reason: None,
        correlation_id: None,
    }
}
