//! Gorilla XOR chunks, bit-exact with Prometheus's chunk encoding 1.
#![deny(missing_docs)]
