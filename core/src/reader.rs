//! Bounds-checked reads over a payload: bytes, little-endian integers and [MC-NBFX] 2.1.2 MB31.
#![forbid(unsafe_code)]

use crate::error::{at, Result};

/// The byte at `pos`, if any.
#[inline]
pub fn byte(data: &[u8], pos: usize) -> Option<u8> {
    data.get(pos).copied()
}

/// `N` bytes at `pos`, if all are there.
#[inline]
pub fn array<const N: usize>(data: &[u8], pos: usize) -> Option<[u8; N]> {
    let end = pos.checked_add(N)?;
    data.get(pos..end)?.try_into().ok()
}

/// A MB31 at `pos` read up to `end`: `Ok(None)` if it runs past `end` (Python's `(0, -1)`).
/// At most five bytes; the fifth may use only its low three bits, else `mb31_invalid` at `pos`.
pub fn mb31(data: &[u8], pos: usize, end: usize) -> Result<Option<(u32, usize)>> {
    let mut value: u32 = 0;
    for i in 0..5usize {
        let at_pos = pos.saturating_add(i);
        if at_pos >= end {
            return Ok(None);
        }
        let Some(b) = byte(data, at_pos) else {
            return Ok(None);
        };
        value |= u32::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            if i == 4 && b > 0x07 {
                return at(
                    "mb31_invalid",
                    format!("fifth byte 0x{b:02x} exceeds 31 bits"),
                    pos,
                );
            }
            return Ok(Some((value, at_pos + 1)));
        }
    }
    at("mb31_invalid", "more than five bytes", pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mb31_values_and_cuts() {
        assert_eq!(mb31(&[0x7F], 0, 1), Ok(Some((0x7F, 1))));
        assert_eq!(mb31(&[0x80, 0x01], 0, 2), Ok(Some((0x80, 2))));
        assert_eq!(
            mb31(&[0xFF, 0xFF, 0xFF, 0xFF, 0x07], 0, 5),
            Ok(Some((0x7FFF_FFFF, 5)))
        );
        let whole = [0xFF, 0xFF, 0xFF, 0xFF, 0x07];
        for cut in 0..5 {
            assert_eq!(mb31(&whole, 0, cut), Ok(None));
            assert_eq!(mb31(whole.get(..cut).unwrap_or_default(), 0, 5), Ok(None));
        }
        assert_eq!(
            mb31(&[0xFF, 0xFF, 0xFF, 0xFF, 0x08], 0, 5).map_err(|e| e.name),
            Err("mb31_invalid")
        );
        assert_eq!(
            mb31(&[0xFF; 6], 0, 6).map_err(|e| e.detail),
            Err("more than five bytes".into())
        );
        assert_eq!(mb31(&[], usize::MAX, usize::MAX), Ok(None));
    }

    #[test]
    fn arrays_never_panic() {
        assert_eq!(array::<2>(&[1, 2, 3], 1), Some([2, 3]));
        assert_eq!(array::<2>(&[1, 2, 3], 2), None);
        assert_eq!(array::<2>(&[1], usize::MAX), None);
    }
}
