//! [`Shared`]: what the driver, every task's run and the HTTP API share: the configuration with
//! the layout of its base dir, which nobody changes, and the metrics they record in.

use crate::config::WorkerConfig;
use crate::layout::Layout;
use crate::metrics::WorkerMetrics;

#[derive(Debug)]
pub(crate) struct Shared {
    pub config: WorkerConfig,
    pub layout: Layout,
    pub metrics: WorkerMetrics,
}
