//! The file source: emits the image files a pipeline decodes, in a fixed order.

use crate::data::ImageEntry;
use crate::engine::{Emitter, Source, StageContext, StageError};

/// Emits every entry, in the given order.
#[derive(Debug, Clone)]
pub struct FileSource {
    entries: Vec<ImageEntry>,
}

impl FileSource {
    /// A source over `entries`; sort them first for a deterministic order.
    pub fn new(entries: Vec<ImageEntry>) -> Self {
        Self { entries }
    }
}

impl Source<ImageEntry> for FileSource {
    fn len_hint(&self) -> Option<u64> {
        Some(self.entries.len() as u64)
    }

    fn run(
        &mut self,
        _ctx: &StageContext,
        out: &mut Emitter<'_, ImageEntry>,
    ) -> Result<(), StageError> {
        for entry in self.entries.drain(..) {
            out.emit(entry)?;
        }
        Ok(())
    }
}
