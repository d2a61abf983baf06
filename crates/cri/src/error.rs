//! A CRI call's failure inside the server, made a gRPC status at the call's boundary (a
//! `tonic::Status` is too large to pass around), and the one way to run blocking work.

use tonic::Status;

#[derive(Debug)]
pub(crate) enum ApiError {
    InvalidArgument(String),
    NotFound(String),
    DeadlineExceeded(String),
    Internal(String),
}

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Status {
        match error {
            ApiError::InvalidArgument(message) => Status::invalid_argument(message),
            ApiError::NotFound(message) => Status::not_found(message),
            ApiError::DeadlineExceeded(message) => Status::deadline_exceeded(message),
            ApiError::Internal(message) => Status::internal(message),
        }
    }
}

/// Any other failure, as INTERNAL.
pub(crate) fn internal(error: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(error.to_string())
}

/// Runs store and engine work (files, SQLite, child processes) off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(internal)?
}
