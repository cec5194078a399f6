//! The one error of the decoders: an anomaly name from `decoders/anomalies.py`, its detail text and
//! the offset in the payload (None where the Python reference gives none).
#![forbid(unsafe_code)]

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub name: &'static str,
    pub detail: String,
    pub offset: Option<i64>,
    /// soap_not_envelope's detail quotes two values with Python's `repr`: the binding formats them.
    pub quoted: Option<(String, Option<String>)>,
}

pub type Result<T> = core::result::Result<T, DecodeError>;

/// An error at `offset`.
pub fn at<T>(name: &'static str, detail: impl Into<String>, offset: usize) -> Result<T> {
    Err(DecodeError {
        name,
        detail: detail.into(),
        offset: Some(i64::try_from(offset).unwrap_or(i64::MAX)),
        quoted: None,
    })
}

/// An error with no offset.
pub fn nowhere<T>(name: &'static str, detail: impl Into<String>) -> Result<T> {
    Err(DecodeError {
        name,
        detail: detail.into(),
        offset: None,
        quoted: None,
    })
}
