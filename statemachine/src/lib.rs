//! Amazon States Language executor (being written).
