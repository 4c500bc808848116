//! The parsers of TeamViewer's output behind one function of bytes, for `fuzz/`: the tool's
//! words are outside input (another program, another vendor), and what the bridge takes
//! from them travels on to the back office and the help desk.

use crate::parse;

/// Reads `data` as `teamviewer info`, `teamviewer daemon status` and `global.conf`, and
/// checks what comes out: an ID is 8 to 12 digits (maybe grouped by single spaces) and not
/// all zeros; the version, the hint and an error line hold no control characters.
pub fn teamviewer_output(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let info = parse::info(&text);
    check_id(info.id.as_deref());
    for shown in [&info.version, &info.hint].into_iter().flatten() {
        assert!(
            !shown.chars().any(char::is_control),
            "a control character passes: {shown:?}"
        );
    }
    check_id(parse::global_conf_client_id(&text).as_deref());
    check_id(parse::teamviewer_id(&text).as_deref());
    let _ = parse::daemon_status(&text);
    if let Some(line) = parse::first_error_line(&text, &text) {
        assert!(
            !line.chars().any(|c| c.is_control() && c != '\t'),
            "a control character passes: {line:?}"
        );
    }
}

fn check_id(id: Option<&str>) {
    let Some(id) = id else { return };
    let digits: String = id.chars().filter(|c| *c != ' ').collect();
    assert!(
        (8..=12).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()),
        "not a TeamViewer ID: {id:?}"
    );
    assert!(digits.chars().any(|c| c != '0'), "all zeros: {id:?}");
    assert!(
        !id.contains("  ") && !id.starts_with(' ') && !id.ends_with(' '),
        "{id:?}"
    );
}
