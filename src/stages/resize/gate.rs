//! The size check of a pipeline without a `Resize` stage: every image must have the size
//! of the dataset's images, and one that differs is bad input under Decode's `on_error`
//! (skipped and listed, or the end of the run under `Abort`) instead of an error that ends
//! the run whatever the policy says.

use crate::engine::{ImageItem, StageContext, StageError, Transform};
use crate::stages::OnError;

/// Passes images of one size on; applies `on_error` to the rest.
#[derive(Debug, Clone)]
pub struct SizeGate {
    width: u32,
    height: u32,
    on_error: OnError,
}

impl SizeGate {
    /// A gate for `width x height` images.
    pub fn new(width: u32, height: u32, on_error: OnError) -> Self {
        Self {
            width,
            height,
            on_error,
        }
    }
}

impl Transform<ImageItem, ImageItem> for SizeGate {
    fn process(
        &mut self,
        img: ImageItem,
        ctx: &StageContext,
        out: &mut Vec<ImageItem>,
    ) -> Result<(), StageError> {
        if (img.width, img.height) == (self.width, self.height) {
            out.push(img);
            return Ok(());
        }
        let reason = format!(
            "the dataset's images are {}x{}: add a Resize stage to use images of every size",
            self.width, self.height
        );
        self.on_error.bad_image(&img, reason, ctx)
    }
}
