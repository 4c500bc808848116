//! The armoured licence file: the base64 payload between the BEGIN and END lines, then a
//! minisign signature block. Nothing here trusts the payload: it only cuts the file up.

use base64::Engine as _;

use crate::FormatError;

/// The first line of a licence file.
pub const BEGIN: &str = "-----BEGIN REMOTE SERVICE LICENCE-----";
/// The line after the payload.
pub const END: &str = "-----END REMOTE SERVICE LICENCE-----";
/// The first word of the trusted comment of a licence signature.
pub const TRUSTED_COMMENT_TAG: &str = "remote-service-licence-v1";

/// A licence file cut into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Armoured {
    /// The payload JSON bytes, exactly as signed (not yet trusted).
    pub payload: Vec<u8>,
    /// The minisign signature block: four lines.
    pub signature: String,
    /// The key id the signature names, as minisign prints it (`7CE99D1D729C426B`).
    pub key_id: String,
}

/// Cuts a licence file into payload and signature block.
pub fn split(bytes: &[u8]) -> Result<Armoured, FormatError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| FormatError::NotALicence("it is not text".into()))?;
    let mut lines = text.lines().map(|line| line.trim_end_matches('\r'));
    let first = lines.by_ref().map(str::trim).find(|line| !line.is_empty());
    if first != Some(BEGIN) {
        return Err(FormatError::NotALicence(format!("no {BEGIN} line")));
    }
    let mut encoded = String::new();
    let mut ended = false;
    for line in lines.by_ref() {
        let line = line.trim();
        if line == END {
            ended = true;
            break;
        }
        encoded.push_str(line);
    }
    if !ended {
        return Err(FormatError::Truncated(format!("no {END} line")));
    }
    let payload = base64::engine::general_purpose::STANDARD
        .decode(encoded.as_bytes())
        .map_err(|error| FormatError::Malformed(format!("the payload is not base64: {error}")))?;
    let block: Vec<&str> = lines.filter(|line| !line.trim().is_empty()).collect();
    if block.len() < 4 {
        return Err(FormatError::Truncated(format!(
            "the signature block has {} of its 4 lines",
            block.len()
        )));
    }
    if block.len() > 4 {
        return Err(FormatError::Malformed(
            "there are lines after the signature block".into(),
        ));
    }
    let key_id = signature_key_id(block[1])?;
    Ok(Armoured {
        payload,
        signature: format!("{}\n", block.join("\n")),
        key_id,
    })
}

/// Puts a payload and a minisign signature block together into a licence file.
pub fn armour(payload: &[u8], signature: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(payload);
    let mut text = format!("{BEGIN}\n");
    for chunk in encoded.as_bytes().chunks(64) {
        text.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        text.push('\n');
    }
    text.push_str(END);
    text.push('\n');
    text.push_str(signature.trim_end());
    text.push('\n');
    text
}

/// The key id of a minisign signature line (base64 of algorithm, key id, signature).
fn signature_key_id(line: &str) -> Result<String, FormatError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(line.trim())
        .map_err(|_| FormatError::Malformed("the signature line is not base64".into()))?;
    if bytes.len() != 74 {
        return Err(FormatError::Malformed(format!(
            "the signature line has {} bytes instead of 74",
            bytes.len()
        )));
    }
    Ok(key_id_text(&bytes[2..10]))
}

/// A key id as minisign prints it: the 8 bytes as a little-endian number in hexadecimal.
pub fn key_id_text(bytes: &[u8]) -> String {
    let mut id = [0u8; 8];
    id.copy_from_slice(&bytes[..8]);
    format!("{:016X}", u64::from_le_bytes(id))
}

/// The trusted comment of a licence's signature:
/// `remote-service-licence-v1 <licence_id> <sequence>`.
pub fn trusted_comment(licence_id: &str, sequence: u64) -> String {
    format!("{TRUSTED_COMMENT_TAG} {licence_id} {sequence}")
}

/// Reads `remote-service-licence-v1 <licence_id> <sequence>`.
pub fn parse_trusted_comment(comment: &str) -> Option<(&str, u64)> {
    let mut words = comment.split(' ');
    if words.next()? != TRUSTED_COMMENT_TAG {
        return None;
    }
    let licence_id = words.next().filter(|id| !id.is_empty())?;
    let sequence = words.next()?.parse().ok()?;
    words.next().is_none().then_some((licence_id, sequence))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expect: Result<&str, &str>) {
        match (split(text.as_bytes()), expect) {
            (Ok(armoured), Ok(payload)) => assert_eq!(armoured.payload, payload.as_bytes()),
            (Err(error), Err(fragment)) => {
                assert!(
                    error.to_string().contains(fragment),
                    "{error} lacks {fragment:?}"
                )
            }
            (got, expected) => panic!("{text:?}: got {got:?}, expected {expected:?}"),
        }
    }

    /// A well-formed signature line (algorithm `ED`, key id 1..=8, a zero signature);
    /// the signature itself is not checked here.
    fn signature_line() -> String {
        let mut bytes = b"ED".to_vec();
        bytes.extend(1..=8u8);
        bytes.extend([0u8; 64]);
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    #[test]
    fn cutting_up_licence_files() {
        let sig = signature_line();
        let block = format!("untrusted comment: x\n{sig}\ntrusted comment: t\n{sig}\n");
        check(
            &format!("{BEGIN}\neyJhIjoxfQ==\n{END}\n{block}"),
            Ok("{\"a\":1}"),
        );
        check(
            &format!("\r\n{BEGIN}\r\neyJh\r\nIjoxfQ==\r\n{END}\r\n{block}"),
            Ok("{\"a\":1}"),
        );
        check("", Err("not a remote service licence: no -----BEGIN"));
        check("PK\u{3}\u{4}garbage", Err("not a remote service licence"));
        check(
            &format!("{BEGIN}\neyJhIjoxfQ=="),
            Err("truncated: no -----END"),
        );
        check(
            &format!("{BEGIN}\neyJhIjoxfQ==\n{END}\nuntrusted comment: x\n{sig}\n"),
            Err("truncated: the signature block has 2 of its 4 lines"),
        );
        check(&format!("{BEGIN}\n!!!\n{END}\n{block}"), Err("not base64"));
        check(
            &format!("{BEGIN}\neyJhIjoxfQ==\n{END}\n{block}extra\n"),
            Err("lines after the signature block"),
        );
        assert!(split(&[0xff, 0xfe, 0x00])
            .unwrap_err()
            .to_string()
            .contains("it is not text"));
    }

    #[test]
    fn armour_and_split_agree() {
        let payload = vec![b'x'; 300];
        let sig = signature_line();
        let block = format!("untrusted comment: x\n{sig}\ntrusted comment: t\n{sig}\n");
        let armoured = split(armour(&payload, &block).as_bytes()).unwrap();
        assert_eq!(armoured.payload, payload);
        assert_eq!(armoured.signature, block);
        assert_eq!(armoured.key_id, "0807060504030201");
    }

    #[test]
    fn trusted_comments() {
        assert_eq!(
            parse_trusted_comment(&trusted_comment("LIC-1", 7)),
            Some(("LIC-1", 7))
        );
        assert_eq!(
            parse_trusted_comment("remote-service-licence-v1 LIC-1"),
            None
        );
        assert_eq!(
            parse_trusted_comment("remote-service-licence-v1 LIC-1 x"),
            None
        );
        assert_eq!(
            parse_trusted_comment("remote-service-licence-v2 LIC-1 7"),
            None
        );
        assert_eq!(
            parse_trusted_comment("timestamp:1700000000 file:payload.json"),
            None
        );
        assert_eq!(
            parse_trusted_comment("remote-service-licence-v1 LIC-1 7 more"),
            None
        );
    }
}
