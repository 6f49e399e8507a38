//! Errors of stages and of whole pipeline runs.

use std::path::PathBuf;

/// Why one stage could not go on.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// A file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file was read but is not a decodable image.
    #[error("cannot decode {}", path.display())]
    Decode {
        /// The file.
        path: PathBuf,
        /// The decoder's error.
        #[source]
        source: image::ImageError,
    },
    /// An image has a size this stage cannot take.
    #[error("image {key} is {width}x{height}: {reason}")]
    BadImage {
        /// The image.
        key: String,
        /// Its width.
        width: u32,
        /// Its height.
        height: u32,
        /// What is wrong.
        reason: String,
    },
    /// A sampler cannot build pairs from the images it has.
    #[error("cannot sample pairs: {reason}")]
    Sampling {
        /// What is missing.
        reason: String,
    },
    /// A sampler's hard negatives could not be had (the embeddings it mines from).
    #[error("cannot sample pairs")]
    Mining {
        /// Why (boxed: the engine knows no sampler's error types).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Writing an output file failed.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O or encoder error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The tensor cache refused an image.
    #[error(transparent)]
    Cache {
        /// The cache's error, boxed because it is large and rare.
        source: Box<crate::cache::CacheError>,
    },
    /// Training failed: a step, a checkpoint, or the embeddings for a mining sampler.
    #[error("training failed")]
    Train {
        /// Why (boxed: the engine knows no trainer's error types).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The stage was told to stop (another stage failed, or Ctrl-C).
    #[error("cancelled")]
    Cancelled,
}

/// Why a pipeline run failed.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A stage failed; the first failure is reported.
    #[error("stage `{stage}`")]
    Stage {
        /// The stage's name.
        stage: String,
        /// What went wrong.
        #[source]
        source: StageError,
    },
    /// A stage's thread panicked: a bug, reported instead of propagated.
    #[error("stage `{stage}` panicked: {message}")]
    Panicked {
        /// The stage's name.
        stage: String,
        /// The panic payload, when it was a string.
        message: String,
    },
    /// The OS refused a thread.
    #[error("cannot start a thread for stage `{stage}`")]
    Spawn {
        /// The stage's name.
        stage: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The user pressed Ctrl-C.
    #[error("interrupted")]
    Interrupted,
}
