//! Python bindings. To be written: see issue 2.
