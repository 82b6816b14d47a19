//! The command line of the moto benches: `cargo bench … -- --orders N`.

/// The `--orders N` argument, or `default` without one. `cargo bench` also passes `--bench`, which
/// is left alone; a value that is not a number ends the run with a message saying so.
pub fn orders_argument(default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--orders")
        .map(|i| match args.get(i + 1).map(|n| n.parse::<usize>()) {
            Some(Ok(n)) => n,
            _ => panic!("--orders takes a number of orders"),
        })
        .unwrap_or(default)
}
