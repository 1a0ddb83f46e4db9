//! What can go wrong while rendering.

use std::fmt;

/// One compile error of a template, positioned in the template's source when the error lies there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// 1-based.
    pub line: Option<usize>,
    /// 1-based, in characters.
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(f, "line {line}, column {column}: {}", self.message),
            (Some(line), None) => write!(f, "line {line}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum RenderError {
    #[error("the template does not compile: {}", join(.0))]
    Template(Vec<TemplateError>),
    #[error("the invoice data cannot be encoded: {0}")]
    Data(String),
    #[error("the HTML view failed: {0}")]
    Html(String),
}

fn join(errors: &[TemplateError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}
