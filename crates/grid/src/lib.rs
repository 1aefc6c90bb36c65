//! The power-flow engine and the `Grid` module built on it.
