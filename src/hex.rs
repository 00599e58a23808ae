//! Lowercase hex, as nfknock writes secrets, tokens and digests.

/// `[0x0a, 0xff]` is `"0aff"`.
pub fn encode(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn lowercase_two_digits_a_byte() {
        assert_eq!(super::encode(&[0x0a, 0xff, 0]), "0aff00");
        assert_eq!(super::encode(&[]), "");
    }
}
