//! Alert delivery: the [`Notifier`] trait the rule manager sends to, and the alert it sends.

use prom_model::{Labels, Timestamp};

/// An alert as it is handed to a notifier: the shape of Alertmanager's API v2 `postableAlert`.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// The alert's identity: the rule's output labels, including `alertname`.
    pub labels: Labels,
    /// The expanded annotations.
    pub annotations: Labels,
    /// When the alert started firing (milliseconds).
    pub starts_at: Timestamp,
    /// When the alert stops being valid (milliseconds): in the future for a firing alert, the
    /// resolve time for a resolved one.
    pub ends_at: Timestamp,
    /// A link back to the expression that produced the alert.
    pub generator_url: String,
}

/// Receives alerts from the rule manager. Implementations must not block: they queue.
pub trait Notifier: Send + Sync {
    /// Queues `alerts` for delivery.
    fn send(&self, alerts: Vec<Alert>);
}
