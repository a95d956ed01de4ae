//! Facade over [`xenbr_core`]: everything is re-exported so that the examples
//! and benchmarks at the top of the workspace can `use xenbr::...`.
pub use xenbr_core::*;
