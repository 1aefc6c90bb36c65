//! The Environment (Algorithm 1). To be written: see issue 2.
pub struct Environment;
pub enum Event {}
pub struct StepInfo;
