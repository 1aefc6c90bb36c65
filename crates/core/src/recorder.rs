//! The recorder: a tidy long table per step. To be written: see issue 2.
pub struct Record;
pub struct Recorder;
