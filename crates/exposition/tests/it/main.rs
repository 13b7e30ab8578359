//! Integration tests of prom-exposition: one binary, one module per concern.

mod golden;
mod openmetrics;
mod roundtrip;
mod support;
mod text;
