//! Exit status, typed once: 0 success, 1 runtime failure, 2 usage or
//! configuration error.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    /// The firewall tool refused, I/O failed, a host did not resolve...
    Failure = 1,
    /// Bad command line or configuration: nothing was changed.
    Usage = 2,
}

/// An error on its way to `main`: what to print and how to exit.
#[derive(Debug)]
pub struct Error {
    pub exit: Exit,
    pub error: anyhow::Error,
}

impl Error {
    pub fn usage(e: impl Into<anyhow::Error>) -> Error {
        Error {
            exit: Exit::Usage,
            error: e.into(),
        }
    }

    pub fn failure(e: impl Into<anyhow::Error>) -> Error {
        Error {
            exit: Exit::Failure,
            error: e.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

impl From<crate::config::Error> for Error {
    fn from(e: crate::config::Error) -> Self {
        // An unreadable file is a runtime failure; a bad one a usage error.
        match e {
            crate::config::Error::Read { .. } => Error::failure(e),
            _ => Error::usage(e),
        }
    }
}

impl From<crate::firewall::Error> for Error {
    fn from(e: crate::firewall::Error) -> Self {
        Error::failure(e)
    }
}

impl From<crate::connect::Error> for Error {
    fn from(e: crate::connect::Error) -> Self {
        Error::failure(e)
    }
}

impl From<crate::knock::Error> for Error {
    fn from(e: crate::knock::Error) -> Self {
        Error::failure(e)
    }
}
