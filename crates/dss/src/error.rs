//! The reader's error type: always names the file and line, and the element
//! when the error is about one.

use crate::model::Location;

/// Why a script could not be read. `Display` gives `file:line: [element: ]message`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadError {
    pub location: Location,
    /// Full element name such as `load.671`, when the error concerns one.
    pub element: Option<String>,
    pub message: String,
}

impl ReadError {
    pub(crate) fn new(location: &Location, message: impl Into<String>) -> Self {
        ReadError {
            location: location.clone(),
            element: None,
            message: message.into(),
        }
    }

    pub(crate) fn at_element(
        location: &Location,
        element: &str,
        message: impl Into<String>,
    ) -> Self {
        ReadError {
            location: location.clone(),
            element: Some(element.to_string()),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: ", self.location)?;
        if let Some(element) = &self.element {
            write!(f, "{element}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ReadError {}
