//! Label selectors as the API server parses them: equality (`k=v`, `k==v`,
//! `k!=v`) and set-based terms (`k in (a,b)`, `k notin (a)`, `k`, `!k`).

use serde_json::Value;

/// Splits at commas outside parentheses.
fn terms(selector: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (index, character) in selector.char_indices() {
        match character {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                terms.push(&selector[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    terms.push(&selector[start..]);
    terms
        .into_iter()
        .map(str::trim)
        .filter(|term| !term.is_empty())
        .collect()
}

fn set(values: &str) -> Vec<&str> {
    values
        .trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split(',')
        .map(str::trim)
        .collect()
}

fn term_matches(labels: Option<&serde_json::Map<String, Value>>, term: &str) -> bool {
    let label = |key: &str| labels.and_then(|labels| labels.get(key.trim())?.as_str());
    if let Some((key, values)) = term.split_once(" notin ") {
        return label(key).is_none_or(|value| !set(values).contains(&value));
    }
    if let Some((key, values)) = term.split_once(" in ") {
        return label(key).is_some_and(|value| set(values).contains(&value));
    }
    if let Some((key, value)) = term.split_once("!=") {
        return label(key) != Some(value.trim());
    }
    if let Some((key, value)) = term.split_once("==").or_else(|| term.split_once('=')) {
        return label(key) == Some(value.trim());
    }
    match term.strip_prefix('!') {
        Some(key) => label(key).is_none(),
        None => label(term).is_some(),
    }
}

/// Whether `object`'s labels satisfy `selector` (empty selects everything).
pub fn matches(object: &Value, selector: &str) -> bool {
    let labels = object
        .pointer("/metadata/labels")
        .and_then(Value::as_object);
    terms(selector)
        .into_iter()
        .all(|term| term_matches(labels, term))
}

/// Decodes a query string value (`%XX` and `+`).
pub fn decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => out.push(b' '),
            b'%' if index + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[index + 1..index + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(byte) => {
                        out.push(byte);
                        index += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            other => out.push(other),
        }
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equality_and_set_based_terms() {
        let pod = json!({"metadata": {"labels": {"app": "web", "tier": "front"}}});
        assert!(matches(&pod, ""));
        assert!(matches(&pod, "app=web,tier in (front, back)"));
        assert!(!matches(&pod, "app=web,tier notin (front)"));
        assert!(matches(&pod, "app,!canary,track notin (beta)"));
        assert!(!matches(&pod, "app!=web"));
        assert_eq!(decode("tier+in+%28a%2Cb%29"), "tier in (a,b)");
    }
}
