//! REST handlers: discovery, generic CRUD/watch over the store, and per-resource strategies.
