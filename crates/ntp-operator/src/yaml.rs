//! YAML output: one document per object, a stream joined by `---`, the way
//! `kubectl apply -f` and `helm template` read and write them.

use serde::Serialize;

/// Why a value could not be written as YAML.
#[derive(Debug, thiserror::Error)]
#[error("cannot write YAML: {0}")]
pub struct YamlError(String);

/// One YAML document.
pub fn document<T: Serialize>(value: &T) -> Result<String, YamlError> {
    let mut text = serde_saphyr::to_string(value).map_err(|e| YamlError(e.to_string()))?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

/// Documents joined into one stream.
pub fn stream<'a>(documents: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for (i, d) in documents.into_iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(d);
    }
    out
}
